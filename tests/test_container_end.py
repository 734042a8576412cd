"""How a container run ended, read on its node: an OOM kill is the kernel's record naming the container's memory
cgroup (containerd's OOMKilled may be missing: its OOM event can be lost); a SIGKILL gives 137 without one."""
from fixtures.runtime import parse_container_end


CID = "55a8634aa0c0230d1408ba7371bfe5fc828f03241ce4b7bbc31f8a1e4306c95a"
MEMCG = f"/docker/751f/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable-pod1b.slice/cri-containerd-{CID}.scope"
KMSG = (f"[23696.802250] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-{CID}.scope,"
        f"mems_allowed=0,oom_memcg={MEMCG.rsplit('/', 1)[0]},task_memcg={MEMCG},task=awk,pid=24108,uid=0\n")


def test_a_container_end_is_an_oom_kill_by_the_kernels_record_whatever_the_runtime_says():
    status = '{"Version":"v1","Pid":0,"FinishedAt":1796446712341067793,"ExitCode":137,"Reason":"OOMKilled"}'
    end = parse_container_end("n", CID, f"{status}\n@@kmsg\n{KMSG}")
    assert end.oom_killed and end.exit_code == 137 and end.oom_kills == (MEMCG,)
    lost = parse_container_end("n", CID, f"{status.replace('OOMKilled', '')}\n@@kmsg\n{KMSG}")
    assert lost.oom_killed and lost.runtime_reason == "", "the runtime's OOM event lost: the kernel's record holds"
    sigkilled = parse_container_end("n", CID, f"{status.replace('OOMKilled', '')}\n@@kmsg\n")
    assert not sigkilled.oom_killed and not sigkilled.oom_kills and sigkilled.exit_code == 137


def test_an_oom_kill_of_another_container_is_not_this_ones():
    other = "0" * 64
    end = parse_container_end("n", other, f'{{"FinishedAt":1,"ExitCode":137,"Reason":"OOMKilled"}}\n@@kmsg\n{KMSG}')
    assert end.oom_kills == () and not end.oom_killed


def test_a_running_container_has_no_exit_code_yet():
    assert parse_container_end("n", CID, '{"Pid":42,"FinishedAt":0,"ExitCode":0,"Reason":""}\n@@kmsg\n').exit_code is None
