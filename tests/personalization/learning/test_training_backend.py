"""train_models on a Dask cluster: TAILOR_TRAINING_BACKEND=dask sends training to DASK_SCHEDULER_ADDRESS."""

from __future__ import annotations

import random

import pytest

from demo.simulation import SLOT_KEY, simulation_slot_ensure, traffic_run
from personalization.learning.training import TrainingError, model_train
from personalization.models import ModelVersion

pytestmark = [pytest.mark.django_db, pytest.mark.simulation]


@pytest.fixture(scope="module")
def dask_scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _backend(settings, backend: str, address: str = "") -> None:
    settings.TAILOR = {**settings.TAILOR, "TRAINING_BACKEND": backend, "DASK_SCHEDULER_ADDRESS": address}


def test_training_on_the_dask_cluster_promotes_a_model_as_good_as_a_local_one(settings, dask_scheduler):
    simulation_slot_ensure()
    traffic_run(2000, random.Random(23))
    local = model_train(SLOT_KEY, seed=23, promote=False)
    _backend(settings, "dask", dask_scheduler)
    remote = model_train(SLOT_KEY, seed=23)
    text = ModelVersion.objects.get(pk=remote.version_id).model_text
    assert "[num_machines: 2]" in text  # boosted data-parallel on both workers
    assert remote.auc == pytest.approx(local.auc, abs=0.03)
    assert remote.promoted, remote.note


def test_a_misconfigured_backend_is_a_clear_error(settings):
    simulation_slot_ensure()
    traffic_run(300, random.Random(29))
    _backend(settings, "dask")
    with pytest.raises(TrainingError, match="DASK_SCHEDULER_ADDRESS is not set"):
        model_train(SLOT_KEY)
    _backend(settings, "spark")
    with pytest.raises(TrainingError, match="Unknown TAILOR_TRAINING_BACKEND 'spark'"):
        model_train(SLOT_KEY)


def test_an_unreachable_dask_scheduler_is_a_training_error_and_the_task_goes_on(settings):
    import socket

    from personalization.tasks import models_train

    simulation_slot_ensure()
    traffic_run(300, random.Random(29))
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.TAILOR = {
        **settings.TAILOR,
        "TRAINING_BACKEND": "dask",
        "DASK_SCHEDULER_ADDRESS": f"tcp://127.0.0.1:{port}",
        "DASK_CONNECT_TIMEOUT_SECONDS": 2,
    }
    with pytest.raises(TrainingError, match=f"The Dask scheduler at tcp://127.0.0.1:{port} cannot be reached"):
        model_train(SLOT_KEY)
    outcome = models_train.delay().get()
    assert outcome[SLOT_KEY].startswith("not trained: The Dask scheduler")
