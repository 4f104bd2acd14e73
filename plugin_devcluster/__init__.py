"""The embedded development Kubernetes API for `make run` (`plugin-operator dev`) and the tests.

There is no Docker here, hence no kind cluster: `kmock.KubernetesEmulator`, extended to behave like a
real API server where the operator, kopf and kubectl depend on it — resource versions, generations,
status isolation, finalizers, garbage collection, schema validation, selectors, server-side tables
and OpenAPI for `kubectl apply`/`explain`. See `apiserver` for what is deliberately not emulated.

    cluster = DevCluster.start_in_thread(port=None)     # or: async with DevCluster() as cluster:
    write_kubeconfig(cluster.url, ".run/kubeconfig")
    ...
    cluster.stop()
"""

from plugin_devcluster.cluster import DevCluster
from plugin_devcluster.kubeconfig import write_kubeconfig

__all__ = ["DevCluster", "write_kubeconfig"]
