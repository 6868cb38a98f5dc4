"""Device resolution: auto order, the environment override, and clear errors."""

from __future__ import annotations

import pytest

from audiolens import devices
from audiolens.devices import Device, available_devices, resolve_device
from audiolens.errors import DeviceError, MissingDependency, ParameterError


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("AUDIOLENS_DEVICE", raising=False)


def test_cpu_is_the_numpy_reference_in_float64(no_env):
    d = resolve_device("cpu")
    assert d == Device("cpu", "numpy", "float64")
    assert resolve_device(d) is d


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(1, True, "cuda:0"), (0, True, "mps"), (0, False, "cpu")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, no_env, cuda, mps, expected):
    monkeypatch.setattr(devices, "_cuda_count", lambda: cuda)
    monkeypatch.setattr(devices, "_mps_ok", lambda: mps)
    d = resolve_device("auto")
    assert d.name == expected
    assert d.precision == ("float64" if expected == "cpu" else "float32")
    assert resolve_device(None).name == expected


def test_environment_overrides_auto_only(monkeypatch):
    monkeypatch.setenv("AUDIOLENS_DEVICE", "cpu")
    monkeypatch.setattr(devices, "_cuda_count", lambda: 1)
    assert resolve_device("auto").name == "cpu"
    monkeypatch.setattr(devices, "_torch_installed", lambda: True)
    assert resolve_device("cuda").name == "cuda:0"  # an explicit request wins over the env


def test_missing_gpu_says_so(monkeypatch, no_env):
    monkeypatch.setattr(devices, "_torch_installed", lambda: True)
    monkeypatch.setattr(devices, "_cuda_count", lambda: 0)
    monkeypatch.setattr(devices, "_mps_ok", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(DeviceError, match="MPS is not available"):
        resolve_device("mps")
    monkeypatch.setattr(devices, "_cuda_count", lambda: 2)
    with pytest.raises(DeviceError, match=r"only 2 CUDA device\(s\)"):
        resolve_device("cuda:5")


def test_torch_devices_need_torch(monkeypatch, no_env):
    monkeypatch.setattr(devices, "_torch_installed", lambda: False)
    with pytest.raises(MissingDependency, match=r"audiolens\[torch\]"):
        resolve_device("torch")
    assert available_devices()[0]["name"] == "cpu"


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "tpu", "CUDA:-1"])
def test_unknown_names_are_parameter_errors(no_env, bad):
    with pytest.raises(ParameterError, match="is not a device"):
        resolve_device(bad)


def test_torch_on_cpu_when_installed(no_env):
    pytest.importorskip("torch")
    d = resolve_device("torch")
    assert (d.name, d.backend, d.precision) == ("cpu", "torch", "float64")
    assert str(d.torch_device) == "cpu"
    names = [x["name"] for x in available_devices()]
    assert names[:2] == ["cpu", "torch:cpu"]


def test_label_tells_the_torch_cpu_backend_apart(no_env):
    assert resolve_device("cpu").label == "cpu"
    assert Device("cpu", "torch", "float64").label == "torch:cpu"
    assert str(Device("cuda:0", "torch", "float32")) == "cuda:0"


def test_blas_threads_holds_the_blas_inside_the_block_and_restores_it():
    from threadpoolctl import threadpool_info

    from audiolens.devices import blas_threads

    def counts() -> list[int]:
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = counts()
    assert before  # numpy's BLAS is loaded
    with blas_threads(1):
        assert all(n == 1 for n in counts())
    assert counts() == before
    with blas_threads(None):  # None leaves it alone
        assert counts() == before


# -- out of memory: halve and retry (the speech and notes batches use it) ------------------------


def test_out_of_memory_is_told_from_other_errors():
    assert devices.out_of_memory(MemoryError())
    assert devices.out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert devices.out_of_memory(RuntimeError("CUDA failed with error CUDA_ERROR_OUT_OF_MEMORY"))
    assert not devices.out_of_memory(RuntimeError("shape mismatch"))


def test_a_batch_that_runs_out_of_memory_is_halved_until_it_fits():
    done, sizes = [], []

    def run(batch):
        if len(batch) > 3:
            raise RuntimeError("CUDA out of memory")
        done.extend(batch)

    devices.halve_on_oom(list(range(13)), run, on_halve=sizes.append)
    assert done == list(range(13))  # every item once, in order
    # 13 -> 6 + 7; 6 -> 3 + 3 (both fit); 7 -> 3 + 4; 4 -> 2 + 2
    assert sizes == [6, 3, 3, 2]


def test_what_a_batch_that_ran_out_of_memory_held_is_freed_before_its_halves_run():
    # the failed call's frames (its device tensors) live on in the error's traceback; the
    # halves must not run while the error is still held, or they run out of memory too
    import weakref

    class Buffer:
        pass

    held: list[weakref.ref] = []

    def run(batch):
        buffer = Buffer()
        assert all(r() is None for r in held), "an earlier attempt's buffer is still held"
        held.append(weakref.ref(buffer))
        if len(batch) > 1:
            raise RuntimeError("CUDA out of memory")

    devices.halve_on_oom([1, 2, 3, 4], run)
    assert len(held) == 7  # 4 -> 2 + 2 -> 1 + 1 + 1 + 1


def test_other_errors_and_one_item_out_of_memory_are_raised():
    def broken(batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape"):
        devices.halve_on_oom([1, 2, 3, 4], broken)

    def hungry(batch):
        raise MemoryError()

    with pytest.raises(MemoryError):
        devices.halve_on_oom([1, 2, 3, 4], hungry)


def test_free_memory_is_known_only_on_cuda():
    assert devices.free_memory(resolve_device("cpu")) is None
    assert devices.free_memory(Device("mps", "torch", "float32")) is None
