"""Learning: what the workers run. Training, offline evaluation, batch scoring, the model
model activation (switching versions, one audited action) and importing logged decisions."""
