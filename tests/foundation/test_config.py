"""Settings precedence: defaults < instance config.toml < SACHNOI_* environment < explicit overrides."""
from web.config import DEFAULTS, load_settings


def test_defaults_give_embedded_sqlite_and_media_under_home(tmp_path):
    settings = load_settings(environ={"SACHNOI_HOME": str(tmp_path)})
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path / 'sachnoi.db'}"
    assert settings["MEDIA_ROOT"] == str(tmp_path / "media")
    assert settings["WORKERS"] == DEFAULTS["WORKERS"]


def test_config_file_overrides_defaults_and_env_overrides_file(tmp_path):
    (tmp_path / "config.toml").write_text('workers = 7\nmax_upload_mb = 10\ndefault_library = "BD"\n')
    env = {"SACHNOI_HOME": str(tmp_path), "SACHNOI_MAX_UPLOAD_MB": "20", "SACHNOI_TRUST_PROXY": "true"}
    settings = load_settings(environ=env)
    assert settings["WORKERS"] == 7            # from the file
    assert settings["MAX_UPLOAD_MB"] == 20     # env beats the file, parsed as a number
    assert settings["TRUST_PROXY"] is True     # parsed as a boolean
    assert settings["DEFAULT_LIBRARY"] == "BD"
    assert load_settings({"WORKERS": 1}, environ=env)["WORKERS"] == 1  # explicit overrides win


def test_database_url_switches_to_postgresql(tmp_path):
    env = {"SACHNOI_HOME": str(tmp_path), "SACHNOI_DATABASE_URL": "postgresql://u@db/x"}
    assert load_settings(environ=env)["DATABASE_URL"] == "postgresql://u@db/x"


def test_home_defaults_to_instance_in_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={})["HOME"] == str(tmp_path / "instance")


def test_jobs_beside_the_server_leave_the_listeners_a_core():
    """`sachnoi serve` runs at most JOB_CPUS job workers and encodes (default: all cores but one)."""
    from web.runtime import serving_workers
    assert serving_workers({"WORKERS": 2, "JOB_CPUS": 0}, cores=2) == 1
    assert serving_workers({"WORKERS": 2, "JOB_CPUS": 0}, cores=8) == 2
    assert serving_workers({"WORKERS": 6, "JOB_CPUS": 0}, cores=4) == 3
    assert serving_workers({"WORKERS": 4, "JOB_CPUS": 2}, cores=8) == 2   # an explicit limit wins
    assert serving_workers({"WORKERS": 2, "JOB_CPUS": 0}, cores=1) == 1   # never none


def test_the_servers_job_pool_and_encodes_follow_that_limit(tmp_path, monkeypatch):
    from web.runtime import start_background_work
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    settings = load_settings({"RUN_WORKERS": True, "WORKERS": 2}, environ={"SACHNOI_HOME": str(tmp_path)})
    work = start_background_work(settings)
    try:
        assert work.pool.count == 1                   # the broker's worker threads
        assert work.pool.ctx.settings.workers == 1     # package_book's encodes
    finally:
        work.stop()
    assert settings["WORKERS"] == 2                                           # the caller's settings unchanged


def test_the_readme_settings_table_is_the_one_list_of_settings():
    """README's table is generated from web.config.SETTINGS (`python -m web.config`): no setting is missing."""
    from pathlib import Path

    from web.config import SETTINGS, settings_table
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README settings table is stale: paste `python -m web.config` into it"
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)
    assert all(s.meaning for s in SETTINGS)


def test_code_reads_no_setting_outside_the_one_list():
    """Every upper-case key read from settings or app.config by our packages is in DEFAULTS."""
    import re
    from pathlib import Path
    root = Path(__file__).parents[2]
    read = re.compile(r"""(?:settings|config)(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']""")
    flask_own = {"HOME", "SERVER_NAME", "TESTING", "MAX_CONTENT_LENGTH", "WTF_CSRF_FIELD_NAME",
                 "BABEL_TRANSLATION_DIRECTORIES", "WTF_CSRF_TIME_LIMIT", "WTF_CSRF_ENABLED"}
    unknown = set()
    for package in ("mastering", "recordings", "catalog", "studio", "streaming", "web", "delivery"):
        for path in (root / package).rglob("*.py"):
            unknown |= {(path.name, key) for key in read.findall(path.read_text(encoding="utf-8"))
                        if key not in DEFAULTS and key not in flask_own}
    assert not unknown


def test_library_defaults_agree_with_the_settings_list():
    """Where a package keeps its own default (for use without settings), it is the listed one."""
    from dataclasses import asdict

    from recordings.probe import MAX_DECODED_SAMPLES
    from studio.align import AlignParams
    from studio.jobs import DEFAULT_LEASE_S
    from studio.markers import PauseMarking
    assert DEFAULTS["MAX_DECODED_SAMPLES"] == MAX_DECODED_SAMPLES
    assert DEFAULTS["JOB_LEASE_S"] == DEFAULT_LEASE_S
    assert DEFAULTS["ALIGN_MARGIN_S"] == AlignParams().margin_s
    assert asdict(PauseMarking()) == {"threshold_dbfs": DEFAULTS["PAUSE_THRESHOLD_DBFS"],
                                      "min_pause_s": DEFAULTS["PAUSE_MIN_S"],
                                      "min_chapter_s": DEFAULTS["CHAPTER_MIN_S"],
                                      "head_room_tone_s": DEFAULTS["CHAPTER_HEAD_ROOM_TONE_S"]}
