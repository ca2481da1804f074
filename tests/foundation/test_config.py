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
        assert len(work.pool.workers) == 1
        assert {w.ctx.settings["WORKERS"] for w in work.pool.workers} == {1}  # package_book's encodes
    finally:
        work.stop()
    assert settings["WORKERS"] == 2                                           # the caller's settings unchanged
