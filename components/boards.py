"""Board budgets: does a model fit the Nano 33 BLE and the ESP32?

flash needed = the .tflite (stored as a C array in flash) + an allowance for
TFLM and the application; RAM needed = the tensor arena + an allowance for
the stack, buffers and the application. Allowances and boards are configuration.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from components.config import DataConfig, EvaluateConfig


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


@dataclass(frozen=True)
class LatencyCheck:
    """Inference time on a Cortex-M4F board, estimated from instructions counted under QEMU (-icount)."""

    board: str
    kernels: str
    instructions: int
    estimated_ms: float  # instructions x cycles per instruction / clock
    budget_ms: float  # the configured fraction of one window's duration

    @property
    def fits(self) -> bool:
        return self.estimated_ms <= self.budget_ms

    def to_dict(self) -> dict:
        return {**asdict(self), "fits": self.fits}

    def describe(self) -> str:
        return (f"{self.board}: inference {self.instructions:,} instructions ({self.kernels}) = about "
                f"{self.estimated_ms:.2f} ms vs budget {self.budget_ms:.2f} ms")


def check_latency(target, data: DataConfig, config: EvaluateConfig) -> list[LatencyCheck]:
    """Per Cortex-M4F board, for the kernels the Arduino TFLM library runs there (CMSIS-NN when measured)."""
    if target is None or not target.ran:
        return []
    kernels = "cmsis_nn" if "cmsis_nn" in target.runs else next(iter(target.runs))
    instructions = target.runs[kernels].instructions_per_inference
    budget_ms = config.latency_budget_fraction * data.window_length / data.sample_rate_hz * 1000
    return [LatencyCheck(board.name, kernels, instructions,
                         instructions * config.cycles_per_instruction / board.clock_hz * 1000, budget_ms)
            for board in config.boards if board.core == "cortex-m4f" and board.clock_hz]
