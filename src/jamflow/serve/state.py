"""What every route needs: the loaded model, the limits, the voices and the job queue."""
from __future__ import annotations

from dataclasses import dataclass

from jamflow.serve.config import ServeConfig
from jamflow.serve.jobs import JobQueue
from jamflow.serve.voices import VoiceRegistry


@dataclass
class ServerState:
    jam: object  # jamflow.infer.api.JAMFlow
    config: ServeConfig
    voices: VoiceRegistry
    jobs: JobQueue
    model_name: str

    def model_info(self) -> dict:
        jam = self.jam
        precision = "int8" if getattr(jam, "int8", False) else str(jam.dtype).replace("torch.", "")
        return {"name": self.model_name, "device": str(jam.device), "dtype": precision,
                "motion": bool(jam.has_motion), "vocoder": type(jam.vocoder).__name__}


def get_state(request) -> ServerState:
    return request.app.state.jamflow
