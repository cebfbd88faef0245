"""Board budgets: does a model fit the Nano 33 BLE and the ESP32?

flash needed = the .tflite (stored as a C array in flash) + an allowance for
TFLM and the application; RAM needed = the tensor arena + an allowance for
the stack, buffers and the application. Allowances and boards are configuration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from components.config import EvaluateConfig


@dataclass(frozen=True)
class BudgetCheck:
    board: str
    flash_needed: int
    flash_available: int
    ram_needed: int
    ram_available: int

    @property
    def fits(self) -> bool:
        return self.flash_needed <= self.flash_available and self.ram_needed <= self.ram_available

    def to_dict(self) -> dict:
        return {**asdict(self), "fits": self.fits}

    def describe(self) -> str:
        return (f"{self.board}: flash {self.flash_needed:,} of {self.flash_available:,} B, "
                f"RAM {self.ram_needed:,} of {self.ram_available:,} B")


def check_budgets(model_bytes: int, arena_bytes: int, config: EvaluateConfig) -> list[BudgetCheck]:
    return [BudgetCheck(board.name, model_bytes + config.flash_allowance_bytes, board.flash_bytes,
                        arena_bytes + config.ram_allowance_bytes, board.ram_bytes)
            for board in config.boards]
