"""pipelines.cron: the cron of a KFP recurring run, checked before any request (tests/pipelines/test_kfp_api.py checks
that `schedule` sends none for these)."""

import pytest

from pipelines.cron import validate_cron
from pipelines.kfp_errors import KfpApiError

BAD_CRONS = [
    ("0 3 * * *", r"has 5 field\(s\); KFP recurring runs need 6, seconds first.*did you mean '0 0 3 \* \* \*'"),
    ("0 0 3 * * * *", r"has 7 field\(s\)"),
    ("", r"has 0 field\(s\)"),
    ("0 60 * * * *", "minutes field '60' is out of range 0-59"),
    ("0 0 3 L * *", "day-of-month field 'L' is not a number"),
    ("@fortnightly", "unknown descriptor"),
]


@pytest.mark.parametrize("cron, expected", BAD_CRONS)
def test_a_bad_cron_is_refused_with_the_format_kfp_reads(cron, expected):
    with pytest.raises(KfpApiError, match=expected) as caught:
        validate_cron(cron)
    assert "SECONDS MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK" in str(caught.value) or "@every" in str(caught.value)


@pytest.mark.parametrize("cron", ["0 0 3 * * *", "0 */15 * * * *", "0 30 2 * * MON-FRI", "0 0 0 1 JAN,JUL ?",
                                  "@daily", "@every 6h"])
def test_valid_crons_pass_unchanged(cron):
    assert validate_cron(cron) == cron
