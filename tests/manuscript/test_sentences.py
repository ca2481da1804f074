"""Vietnamese sentence splitting: each rule a named case."""
import unicodedata

import pytest

from studio.sentences import split_sentences

CASES = {
    "plain full stops": ("Trời mưa. Đường trơn.", ["Trời mưa.", "Đường trơn."]),
    "question and exclamation": ("Anh đi đâu? Về quê! Thế à.", ["Anh đi đâu?", "Về quê!", "Thế à."]),
    "title abbreviations": ("PGS. TS. Lê Văn Bình giảng bài. GS. Hoa nghe.",
                            ["PGS. TS. Lê Văn Bình giảng bài.", "GS. Hoa nghe."]),
    "place abbreviations": ("Anh sống ở TP. Hồ Chí Minh, Q. 3, P. Võ Thị Sáu. Chị ở Tp. Huế.",
                            ["Anh sống ở TP. Hồ Chí Minh, Q. 3, P. Võ Thị Sáu.", "Chị ở Tp. Huế."]),
    "ThS. and ô.": ("ThS. Minh gặp ô. Nam. Họ chào nhau.", ["ThS. Minh gặp ô. Nam.", "Họ chào nhau."]),
    "a word like số or bà ends a sentence": ("Cách đây ba mươi cây số. TS. An về làng. Tôi gặp bà. Bà cười.",
                                             ["Cách đây ba mươi cây số.", "TS. An về làng.", "Tôi gặp bà.",
                                              "Bà cười."]),
    "decimal comma": ("Lãi suất là 3,5 phần trăm. Cao quá.", ["Lãi suất là 3,5 phần trăm.", "Cao quá."]),
    "thousands dots": ("Giá 1.000.000 đồng. Rẻ.", ["Giá 1.000.000 đồng.", "Rẻ."]),
    "initials": ("Tác giả là Nguyễn V. A. Ông viết hay.", ["Tác giả là Nguyễn V. A. Ông viết hay."]),
    "v.v. before a capital ends": ("Có sách, báo, v.v. Tất cả miễn phí.", ["Có sách, báo, v.v.", "Tất cả miễn phí."]),
    "v.v. inside a sentence": ("Sách, báo, v.v. đều có.", ["Sách, báo, v.v. đều có."]),
    "ellipsis then lower case": ("Anh ấy đi… rồi lại về. Xong.", ["Anh ấy đi… rồi lại về.", "Xong."]),
    "three dots then capital": ("Chờ mãi... Không ai đến.", ["Chờ mãi...", "Không ai đến."]),
    "closing quote kept, speech tag continues": ("“Đi thôi!” anh nói. Họ đi.", ["“Đi thôi!” anh nói.", "Họ đi."]),
    "closing quote kept before a capital": ('Cô hỏi: "Anh có đi không?" Anh im lặng.',
                                            ['Cô hỏi: "Anh có đi không?"', "Anh im lặng."]),
    "closing bracket kept": ("Ông mất năm 1945 (ở Huế.) Con ông ở lại.", ["Ông mất năm 1945 (ở Huế.)", "Con ông ở lại."]),
    "leading list number": ("1. Mở đầu là phần ngắn. 2. Thân bài dài hơn.",
                            ["1. Mở đầu là phần ngắn.", "2. Thân bài dài hơn."]),
    "ordinal inside a sentence": ("Anh về thứ 2. Chị về sau.", ["Anh về thứ 2.", "Chị về sau."]),
    "dialogue dash": ("– Chào cháu. – Dạ, chào bác.", ["– Chào cháu.", "– Dạ, chào bác."]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_rule(name):
    text, expected = CASES[name]
    assert split_sentences(text) == expected


def test_output_is_nfc_and_whitespace_collapsed():
    decomposed = unicodedata.normalize("NFD", "Hoà   bình.\nĐộc lập.")
    out = split_sentences(decomposed)
    assert out == ["Hoà bình.", "Độc lập."]
    assert all(unicodedata.is_normalized("NFC", s) for s in out)


def test_punctuation_only_is_no_sentence():
    assert split_sentences(" … ") == []
