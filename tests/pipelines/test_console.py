"""pipelines/console.py: kfp.local's log lines in, one line per task out, everything kept in the log file."""

import io
import os

from pipelines.console import quiet_run

# What kfp.local 2.13 writes for a task (task_dispatcher.py, logging_utils.py), colours included.
KFP_LOG = """\
12:00:00.000 - INFO - Executing task \x1b[96m'ingest'\x1b[0m
12:00:00.001 - INFO - Streamed logs:

    a line the task printed
12:00:02.500 - INFO - Task \x1b[96m'ingest'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
12:00:02.501 - INFO - Task \x1b[96m'ingest'\x1b[0m outputs:
    dataset_version: 'ds-1'
    metrics: Metrics( name='metrics',
                      uri='/root/ingest/metrics',
                      metadata={'windows_accepted': 1200.0, 'windows_quarantined': 3.0, 'rows_read': 9.0} )
12:00:02.600 - INFO - Executing task \x1b[96m'evaluate'\x1b[0m
12:00:04.000 - INFO - Task \x1b[96m'evaluate'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m
12:00:04.001 - INFO - Task \x1b[96m'evaluate'\x1b[0m outputs:
    Output: True
    card: Markdown( name='card',
                    uri='/root/evaluate/card',
                    metadata={'display_name': 'x'} )
    metrics: Metrics( name='metrics',
                      uri='/root/evaluate/metrics',
                      metadata={'int8_accuracy': 0.98333, 'arena_bytes': 4264.0} )
12:00:04.100 - INFO - Executing task \x1b[96m'promote'\x1b[0m
12:00:05.000 - ERROR - Task \x1b[96m'promote'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m
"""


def test_one_line_per_task_with_its_numbers_and_the_full_log_in_a_file(tmp_path, capfd):
    log = tmp_path / "logs" / "run.log"
    with quiet_run(log) as tasks:
        print(KFP_LOG, end="")
        os.write(1, b"C++ noise on descriptor 1\n")  # TensorFlow writes here, below Python
        os.write(2, b"C++ noise on descriptor 2\n")
    shown = capfd.readouterr()
    assert shown.out == ""
    lines = shown.err.splitlines()
    assert [line.split()[:2] for line in lines] == [["ingest", "success"], ["evaluate", "success"],
                                                    ["promote", "failure"]]
    assert lines[0].endswith("windows_accepted=1200 windows_quarantined=3")  # the numbers that matter, in order
    assert lines[1].endswith("int8_accuracy=0.9833 arena_bytes=4264 blessed=True")
    assert [t.name for t in tasks] == ["ingest", "evaluate", "promote"]
    assert tasks[0].numbers["dataset_version"] == "'ds-1'" and "display_name" not in tasks[1].numbers
    text = log.read_text()
    assert "a line the task printed" in text and "C++ noise on descriptor 1" in text
    assert "C++ noise on descriptor 2" in text


def test_verbose_streams_the_log_as_well(tmp_path, capfd):
    with quiet_run(tmp_path / "run.log", verbose=True):
        print(KFP_LOG, end="")
    err = capfd.readouterr().err
    assert "a line the task printed" in err and "Executing task" in err


def test_the_streams_are_restored(tmp_path):
    import sys

    before = sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino
    with quiet_run(tmp_path / "run.log"):
        assert isinstance(sys.stdout, io.TextIOBase)
    assert (sys.stdout, sys.stderr, os.fstat(1).st_ino, os.fstat(2).st_ino) == before
