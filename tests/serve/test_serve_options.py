"""``dynahate serve``'s options that are refused before anything loads: one ``error:`` line, exit 2."""

import pytest

from dynahate.testing.cli import run_main


def refusal(tmp_path, *options: str) -> str:
    proc = run_main(["serve", "--adapter", str(tmp_path / "no-run"), *options], check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    return proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("option", ["--window-ms", "--request-timeout", "--header-timeout"])
@pytest.mark.parametrize("value", ["inf", "Infinity", "-inf", "nan", "0", "-1", "soon"])
def test_a_wait_that_never_ends_or_is_not_a_number_is_refused_in_one_line(tmp_path, option, value):
    assert refusal(tmp_path, f"{option}={value}").endswith(  # = : "-inf" is a value, not an option
        f"argument {option}: must be a finite number greater than 0, got '{value}'")


@pytest.mark.parametrize("value", ["*", "example.org", "ftp://example.org", "https://example.org/app",
                                   "https://example.org?x=1", "https://user@example.org", "https://example.org:port",
                                   "https://"])
def test_a_cors_origin_is_one_origin_never_a_wildcard(tmp_path, value):
    assert refusal(tmp_path, "--cors-origin", value).endswith(
        f"argument --cors-origin: must be one origin, http(s)://host[:port] with no path, got '{value}'")


def test_good_values_pass_the_options_and_the_command_goes_on_to_the_adapter(tmp_path):
    from dynahate.core.cli import build_parser

    args = build_parser().parse_args(["serve", "--adapter", "x", "--window-ms", "0.5", "--request-timeout", "1e3",
                                      "--header-timeout", "2", "--cors-origin", "HTTPS://Example.org:8443/",
                                      "--cors-origin", "http://[::1]:3000", "--api-docs"])
    assert (args.window_ms, args.request_timeout, args.header_timeout) == (0.5, 1000.0, 2.0)
    assert args.cors_origin == ["https://example.org:8443", "http://[::1]:3000"] and args.api_docs is True
    defaults = build_parser().parse_args(["serve", "--adapter", "x"])
    assert (defaults.cors_origin, defaults.api_docs, defaults.header_timeout) == ([], False, 10.0)
    assert "run directory not found" in refusal(tmp_path, "--window-ms", "1e9")
