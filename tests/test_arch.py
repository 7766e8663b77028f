"""Arch-list parsing, filtering against the toolkit, gencode flags and device coverage."""
import pytest

from geomaug._arch import (DEFAULT_ARCH_LIST, Arch, ArchError, device_is_covered, gencode_flags,
                           parse_arch_list, parse_gpu_code_list, select_archs)

CUDA13 = {75, 80, 86, 87, 88, 89, 90, 100, 103, 110, 120, 121}
CUDA118 = {35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90}


def test_parse_sorts_dedups_and_keeps_ptx():
    assert parse_arch_list("9.0+PTX; 7.5,8.6 8.6") == [Arch(7, 5), Arch(8, 6), Arch(9, 0, True)]
    assert parse_arch_list("8.0 8.0+ptx") == [Arch(8, 0, True)]


@pytest.mark.parametrize("bad", ["sm_86", "8", "Ampere", "8.6+SASS", "", "   "])
def test_parse_rejects_unknown_entries(bad):
    with pytest.raises(ArchError, match="arch"):
        parse_arch_list(bad)


def test_default_list_on_cuda13_drops_old_archs_and_keeps_ptx():
    kept, dropped = select_archs(parse_arch_list(DEFAULT_ARCH_LIST), CUDA13, explicit=False)
    assert [str(a) for a in kept] == ["7.5", "8.0", "8.6", "8.9", "9.0+PTX"]
    assert [str(a) for a in dropped] == ["3.5", "5.0", "6.0", "7.0"]


def test_default_list_on_cuda118_keeps_everything():
    kept, dropped = select_archs(parse_arch_list(DEFAULT_ARCH_LIST), CUDA118, explicit=False)
    assert len(kept) == 9 and not dropped


def test_ptx_moves_to_highest_kept_when_its_arch_is_dropped():
    kept, _ = select_archs(parse_arch_list("7.5;8.0;10.0+PTX"), CUDA118, explicit=False)
    assert kept == [Arch(7, 5), Arch(8, 0, True)]


def test_explicit_unbuildable_arch_fails_naming_a_release():
    with pytest.raises(ArchError, match=r"3\.5: CUDA 11\.8 or older builds it"):
        select_archs(parse_arch_list("3.5;8.6"), CUDA13, explicit=True)
    with pytest.raises(ArchError, match=r"10\.0: CUDA 12\.8 or newer builds it"):
        select_archs(parse_arch_list("10.0"), CUDA118, explicit=True)


def test_gencode_flags_one_per_arch_plus_ptx():
    assert gencode_flags([Arch(7, 5), Arch(9, 0, True)]) == [
        "-gencode=arch=compute_75,code=sm_75", "-gencode=arch=compute_90,code=sm_90",
        "-gencode=arch=compute_90,code=compute_90"]


def test_parse_nvcc_list_gpu_code():
    assert parse_gpu_code_list("sm_75\nsm_90\nsm_90a\nsm_100\n") == {75, 90, 100}


@pytest.mark.parametrize("cap, archs, covered", [
    ((8, 6), "8.0", True),        # same major, newer minor runs older SASS
    ((8, 0), "8.6", False),       # but not the other way round
    ((9, 0), "7.5;8.0;8.6", False),
    ((12, 0), "9.0+PTX", True),   # PTX JIT on any newer device
    ((12, 0), "9.0", False),
    ((7, 0), "7.5+PTX", False),   # PTX never runs on an older device
])
def test_device_coverage(cap, archs, covered):
    assert device_is_covered(cap, parse_arch_list(archs)) is covered
