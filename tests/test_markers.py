"""The ``integration`` marker holds every test that trains or needs a trained run, by construction.

conftest.py marks a test whose fixtures (at any depth) include a training fixture, and refuses to
start ``llamafactory-cli`` from a test that is not marked. Checked here on small test files run by
a real pytest (pytester, in a subprocess) with this conftest, and on the session running now.
"""

import os
from pathlib import Path

import pytest

from dynahate.testing.cli import FAST_GROUP, INTEGRATION, TRAINING_FIXTURES

CONFTEST = Path(__file__).with_name("conftest.py")


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    return pytester


def test_tests_that_need_a_trained_run_are_marked_and_left_out_of_the_fast_loop(suite):
    suite.makepyfile(test_sample="""
        import pytest

        @pytest.fixture
        def evaluated(trained_run):  # a fixture of the test file that needs the trained run
            return trained_run

        def test_plain(tmp_path):
            pass

        def test_direct(trained_run):
            pass

        def test_through_a_fixture(evaluated):
            pass

        def test_lf_predict(lf_predict_run):
            pass
    """)
    fast = suite.runpytest_subprocess("-m", "not integration", "--collect-only", "-q")
    assert fast.ret == 0, fast.stdout.str()
    fast.stdout.fnmatch_lines(["test_sample.py::test_plain", "1/4 tests collected (3 deselected)*"])
    slow = suite.runpytest_subprocess("-m", INTEGRATION, "--collect-only", "-q")
    slow.stdout.fnmatch_lines(["test_sample.py::test_direct", "test_sample.py::test_through_a_fixture",
                               "test_sample.py::test_lf_predict", "3/4 tests collected (1 deselected)*"])


def test_an_unmarked_test_cannot_start_llamafactory(suite):
    suite.makepyfile(test_sample="""
        from dynahate.testing.cli import run_cli

        def test_trains_by_itself(tmp_path):
            run_cli(["llamafactory-cli", "train", str(tmp_path / "recipe.yaml")])
    """)
    result = suite.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"*test_sample.py::test_trains_by_itself runs llamafactory-cli train but is not "
                                 f"marked {INTEGRATION}*"])
    assert "recipe.yaml" not in result.stdout.str()  # refused before llamafactory-cli started


def test_no_test_of_this_session_needs_training_without_the_marker(request):
    unmarked = [item.nodeid for item in request.session.items
                if TRAINING_FIXTURES.intersection(getattr(item, "fixturenames", ()))
                and item.get_closest_marker(INTEGRATION) is None]
    assert unmarked == []


def test_a_module_fixture_is_built_on_one_worker_and_the_workers_share_the_cores(suite):
    """``make test`` runs ``-n 2 --dist loadgroup``: conftest puts the tests of a module that use a module-scoped
    fixture in one xdist group, so the fixture is built once. Should pytest-xdist stop honouring the groups (as it
    silently did with pytest 9.2, pytest-dev/pytest-xdist#1386), the two workers would each build it, and this
    fails. Each worker also computes with ``cores // 2`` OpenMP threads and torch's huge pages. With integration
    tests in the run and nothing deselected, the other tests form one group."""
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    suite.makepyfile(test_sample=f"""
        import os
        import pytest

        @pytest.fixture(scope="module")
        def expensive(tmp_path_factory):
            return os.environ["PYTEST_XDIST_WORKER"]

        @pytest.mark.parametrize("k", range(8))
        def test_uses_it(expensive, k):
            assert expensive == os.environ["PYTEST_XDIST_WORKER"]
            assert os.environ["OMP_NUM_THREADS"] == "{threads}" and os.environ["THP_MEM_ALLOC_ENABLE"] == "1"

        @pytest.mark.parametrize("k", range(8))
        def test_plain(k):
            pass

        @pytest.mark.integration
        def test_slow():
            pass
    """)
    with pytest.MonkeyPatch.context() as patch:
        for name in ("OMP_NUM_THREADS", "THP_MEM_ALLOC_ENABLE"):  # the small suite's conftest sets them, not ours
            patch.delenv(name, raising=False)
        result = suite.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str()
    grouped = [line.strip() for line in result.stdout.str().splitlines() if "PASSED" in line and "test_uses_it" in line]
    assert len(grouped) == 8 and all(line.endswith("@test_sample") for line in grouped), grouped
    assert len({line.split("]")[0] for line in grouped}) == 1  # "[gw0] ..." or "[gw1] ...", not both
    plain = [line.strip() for line in result.stdout.str().splitlines() if "PASSED" in line and "test_plain" in line]
    assert len(plain) == 8 and all(line.endswith(f"@{FAST_GROUP}") for line in plain), plain
