"""The ``integration`` marker holds every test that trains or needs a trained run, by construction.

conftest.py marks a test whose fixtures (at any depth) include a training fixture, and refuses to
start ``llamafactory-cli`` from a test that is not marked. Checked here on small test files run by
a real pytest (pytester, in a subprocess) with this conftest, and on the session running now.
"""

from pathlib import Path

import pytest

from dynahate.testing.cli import INTEGRATION, TRAINING_FIXTURES

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
