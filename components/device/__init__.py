"""Serial tooling for a board running the tinymlops firmware (protocol: firmware/PROTOCOL.md).

    protocol.py      parse and format protocol lines (pure)
    serial_link.py   a line link over a serial port; enter_mode (MODE -> READY)
    collect.py       labelled windows from the board -> one upload in the landing zone
    verify.py        the board's int8 scores vs the host's TFLM run of the same model
"""

from components.device.collect import CollectError, CollectResult, SkippedWindow, collect
from components.device.protocol import ProtocolError, model_id
from components.device.serial_link import LinkClosed, LinkError, LinkTimeout, SerialLink, StoppedMidLine, enter_mode
from components.device.verify import Mismatch, VerifyError, VerifyResult, verify

__all__ = [
    "CollectError", "CollectResult", "LinkClosed", "LinkError", "LinkTimeout", "Mismatch", "ProtocolError",
    "SerialLink", "SkippedWindow", "StoppedMidLine", "VerifyError", "VerifyResult", "collect", "enter_mode",
    "model_id", "verify",
]
