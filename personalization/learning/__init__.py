"""Learning: what the workers run. Training, offline evaluation, batch scoring, the model
registry (switching versions) and importing logged decisions."""
