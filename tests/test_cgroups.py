"""A kernel CPU list ("0-2,5", as in cpuset files and /sys/devices/system/cpu/online) read as a set."""
from fixtures.cgroups import cpu_list


def test_a_cpu_list_of_ranges_and_single_cpus_is_their_union():
    assert cpu_list("0-2,5\n") == {0, 1, 2, 5}
    assert cpu_list("1") == {1}
    assert cpu_list("") == set()
