"""`make plan-report` without BASE compares against the merge base with origin/main, else HEAD~1,
as the README says; a clone with neither gets a message saying what to do."""

from __future__ import annotations

import pytest

from scripts.plan_report import default_base
from tests.support.git_repo import git


def commit(repo, name: str) -> str:
    (repo / name).write_text(name)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", name)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


def test_one_commit_and_no_remote_says_what_to_do(repo):
    commit(repo, "a")
    with pytest.raises(RuntimeError, match=r"no base to compare against: no origin/main .* pass --base REF"):
        default_base(repo)


def test_without_a_remote_the_base_is_the_previous_commit(repo):
    commit(repo, "a")
    commit(repo, "b")
    assert default_base(repo) == "HEAD~1"


def test_with_origin_main_the_base_is_the_merge_base(repo):
    fork = commit(repo, "a")
    commit(repo, "b")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "checkout", "-q", "-b", "feature", fork)
    commit(repo, "c")
    commit(repo, "d")
    assert default_base(repo) == fork
