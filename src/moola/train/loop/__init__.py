"""The loop: the train step, the trainer, its history, best-step tracking, telemetry and TensorBoard."""
