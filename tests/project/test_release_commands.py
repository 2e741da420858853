"""make promote, rollback and history: each a change to a release manifest, shown as a diff, in a
git repository of its own; and the app's synth runs what the manifest says."""

from __future__ import annotations

import pytest

from hashistack import HashistackError
from scripts.release import history, promote, render_history, rollback
from tests.support.git_repo import git


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "releases").mkdir()
    return tmp_path


def write(repo, env: str, text: str, message: str) -> None:
    (repo / "releases" / f"{env}.toml").write_text(text)
    git(repo, "add", "releases")
    git(repo, "commit", "-q", "-m", message)


def test_promote_writes_the_sources_release_into_the_target_as_a_diff_to_commit(repo):
    write(repo, "uat", '[ledger]\nversion = "0.9.4"\nrevision = "3f2c1ab"\n', "uat runs 0.9.4")
    write(repo, "prod", '[ledger]\nversion = "0.9.3"\n', "prod runs 0.9.3")
    out = promote(repo, "ledger", "uat", "prod")
    assert '-version = "0.9.3"' in out and '+version = "0.9.4"' in out and '+revision = "3f2c1ab"' in out
    assert "git commit -m 'release: ledger 0.9.4 to prod (from uat, was 0.9.3)' releases/prod.toml" in out
    assert 'version = "0.9.4"' in (repo / "releases" / "prod.toml").read_text()
    assert promote(repo, "ledger", "uat", "prod").endswith("unchanged, nothing to commit\n")


def test_promote_refuses_a_service_the_source_has_no_release_of(repo):
    write(repo, "uat", '[my-go-app]\nversion = "1.4.2"\n', "uat")
    with pytest.raises(HashistackError, match=r"releases/uat\.toml: \[ledger\]: 'uat' has no release of 'ledger'"):
        promote(repo, "ledger", "uat", "prod")


def test_history_lists_each_release_and_rollback_returns_to_the_one_before(repo):
    write(repo, "prod", '[ledger]\nversion = "0.9.2"\n', "first")
    write(repo, "prod", '[ledger]\nversion = "0.9.3"\n', "second")
    write(repo, "prod", '[ledger]\nversion = "0.9.4"\n', "third")
    changes = history(repo, "prod")
    versions = [tuple((n, b and b.version, a and a.version) for n, b, a in c.changes) for c in changes]
    assert versions == [(("ledger", "0.9.3", "0.9.4"),), (("ledger", "0.9.2", "0.9.3"),), (("ledger", None, "0.9.2"),)]
    assert "ledger 0.9.3 -> 0.9.4  (third)" in render_history("prod", changes)
    out = rollback(repo, "ledger", "prod")
    assert '+version = "0.9.3"' in out and "roll ledger back to 0.9.3 in prod (from 0.9.4)" in out
    rollback(repo, "ledger", "prod", to="0.9.2")
    assert 'version = "0.9.2"' in (repo / "releases" / "prod.toml").read_text()
    with pytest.raises(HashistackError, match=r"TO = '0\.1\.0': 'ledger' never ran this version in 'prod'"):
        rollback(repo, "ledger", "prod", to="0.1.0")


def test_the_synth_runs_what_the_manifest_says(monkeypatch, tmp_path):
    import stacks.apps as apps
    from stacks.environments import PROD

    (tmp_path / "prod.toml").write_text('[ledger]\nversion = "0.9.9"\nrevision = "abcdef1"\n')
    monkeypatch.setattr(apps, "RELEASES", tmp_path)
    ledger = apps.services(PROD).plan("ledger").job
    assert ledger.groups[0].tasks[0].config.image.endswith("/ledger:0.9.9")
    assert ledger.meta["version"] == "0.9.9" and ledger.meta["revision"] == "abcdef1"
    (tmp_path / "prod.toml").write_text('[ledgr]\nversion = "0.9.9"\n')
    with pytest.raises(HashistackError, match=r"\[ledgr\]: no service of environment 'prod' has this name"):
        apps.services(PROD)


def test_rolling_back_twice_goes_further_back_and_keeps_the_revision(repo):
    write(repo, "prod", '[ledger]\nversion = "0.9"\nrevision = "aaaaaaa"\n', "0.9")
    write(repo, "prod", '[ledger]\nversion = "1.0"\nrevision = "bbbbbbb"\n', "1.0")
    write(repo, "prod", '[ledger]\nversion = "1.1"\nrevision = "ccccccc"\n', "1.1, broken")
    rollback(repo, "ledger", "prod")
    assert (repo / "releases" / "prod.toml").read_text().count('revision = "bbbbbbb"') == 1
    git(repo, "commit", "-qam", "back to 1.0")
    rollback(repo, "ledger", "prod")
    text = (repo / "releases" / "prod.toml").read_text()
    assert 'version = "0.9"' in text and 'revision = "aaaaaaa"' in text


def test_history_survives_a_deleted_manifest_and_an_entry_later_rules_refuse(repo):
    write(repo, "prod", '[ledger]\nversion = "0.9"\nrevision = "HEAD"\n', "old rules")
    write(repo, "prod", '[ledger]\nversion = "1.0"\n', "1.0")
    git(repo, "rm", "-q", "-r", "releases")
    git(repo, "commit", "-qm", "removed")
    changes = history(repo, "prod")
    assert [c.subject for c in changes] == ["removed", "1.0", "old rules"]
    assert changes[0].changes[0][2] is None and "revision = 'HEAD'" in changes[1].unreadable + changes[2].unreadable
    assert "unreadable" in render_history("prod", changes)


def test_a_project_in_a_subdirectory_of_its_repository_reads_its_own_history(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    project = tmp_path / "platform"
    (project / "releases").mkdir(parents=True)
    write(project, "prod", '[ledger]\nversion = "0.9"\n', "0.9")
    write(project, "prod", '[ledger]\nversion = "1.0"\n', "1.0")
    assert [c.changes[0][2].version for c in history(project, "prod")] == ["1.0", "0.9"]
