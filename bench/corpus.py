"""Realistic dashboard filters for the translation benchmark (and a check that all translate).

Prometheus filters address samples (labels, `metric`, `timestamp`, `value`) of three query
definitions; Elasticsearch filters address a typical log index. Time ranges are the usual
dashboard windows.
"""

from __future__ import annotations

from typing import Any

PROMETHEUS_QUERIES: dict[str, dict[str, Any]] = {
    "samples": {},
    "requests": {"metric": "http_requests_total", "rate": "5m", "aggregate": "sum", "by": ["job", "code"]},
    "cpu": {"metric": "node_cpu_seconds_total", "rate": "1m", "aggregate": "avg", "by": ["instance"]},
}

_LAST_HOUR = "timestamp ge 2024-05-01T11:00:00Z and timestamp le 2024-05-01T12:00:00Z"
_LAST_DAY = "timestamp ge 2024-04-30T12:00:00Z and timestamp le 2024-05-01T12:00:00Z"
_AT_NOON = "timestamp eq 2024-05-01T12:00:00Z"

#: (query definition, $filter)
PROMQL_FILTERS: list[tuple[str, str]] = [
    ("samples", "metric eq 'up'"),
    ("samples", "metric eq 'up' and job eq 'api'"),
    ("samples", "metric eq 'up' and job in ('api','web','worker')"),
    ("samples", f"metric eq 'up' and job eq 'api' and {_LAST_HOUR}"),
    ("samples", "metric eq 'node_load1' and instance eq '10.0.0.1:9100'"),
    ("samples", f"metric eq 'node_load1' and startswith(instance,'10.0.0.') and {_LAST_DAY}"),
    ("samples", "metric eq 'node_memory_MemAvailable_bytes' and instance in ('10.0.0.1:9100','10.0.0.2:9100')"),
    ("samples", "metric eq 'node_filesystem_avail_bytes' and mountpoint eq '/' and fstype ne 'tmpfs'"),
    ("samples", "metric eq 'node_filesystem_avail_bytes' and not (fstype in ('tmpfs','overlay','squashfs'))"),
    ("samples", f"metric eq 'node_filesystem_avail_bytes' and endswith(device,'/nvme0n1p1') and {_AT_NOON}"),
    ("samples", "metric eq 'kube_pod_status_phase' and namespace eq 'payments' and phase eq 'Running'"),
    ("samples", "metric eq 'kube_pod_status_phase' and (phase eq 'Pending' or phase eq 'Failed') and value eq 1"),
    ("samples", f"metric eq 'kube_pod_container_status_restarts_total' and namespace eq 'payments' and {_LAST_DAY}"),
    ("samples", "metric eq 'kube_deployment_status_replicas_unavailable' and value gt 0"),
    ("samples", "metric eq 'container_memory_working_set_bytes' and contains(pod,'checkout-') and container ne ''"),
    (
        "samples",
        f"metric eq 'container_memory_working_set_bytes' and namespace in ('payments','orders') and {_LAST_HOUR}",
    ),
    ("samples", "metric eq 'container_cpu_usage_seconds_total' and startswith(pod,'api-7d9') and container eq 'api'"),
    ("samples", "metric eq 'http_request_duration_seconds_bucket' and le eq '0.25' and handler eq '/api/v1/orders'"),
    ("samples", f"metric eq 'http_request_duration_seconds_bucket' and contains(handler,'/v1/') and {_LAST_HOUR}"),
    ("samples", "metric eq 'http_request_duration_seconds_count' and method in ('GET','HEAD') and code eq '200'"),
    ("samples", "metric eq 'probe_success' and contains(instance,'https://shop.example.com') and value lt 1"),
    ("samples", f"metric eq 'probe_duration_seconds' and job eq 'blackbox' and value gt 1.5 and {_LAST_DAY}"),
    ("samples", "metric eq 'probe_ssl_earliest_cert_expiry' and endswith(instance,'.example.com:443')"),
    ("samples", "metric eq 'pg_stat_activity_count' and datname eq 'orders' and state eq 'active'"),
    ("samples", "metric eq 'pg_replication_lag' and value ge 30 and instance ne 'db-0.db:9187'"),
    (
        "samples",
        f"metric eq 'redis_connected_clients' and instance in ('redis-0:9121','redis-1:9121') and {_LAST_HOUR}",
    ),
    ("samples", "metric eq 'kafka_consumergroup_lag' and consumergroup eq 'billing' and topic eq 'invoices.v2'"),
    ("samples", "metric eq 'kafka_consumergroup_lag' and startswith(topic,'orders.') and value gt 1000"),
    ("samples", f"metric eq 'rabbitmq_queue_messages_ready' and contains(queue,'.dlq') and {_AT_NOON}"),
    (
        "samples",
        "metric eq 'nginx_ingress_controller_requests' and ingress eq 'shop' and status in ('500','502','503','504')",
    ),
    ("samples", "(metric eq 'up' or metric eq 'scrape_duration_seconds') and job eq 'node'"),
    ("samples", "startswith(metric,'node_network_') and device eq 'eth0'"),
    ("samples", "metric in ('node_load1','node_load5','node_load15') and instance eq 'node-3.example.org:9100'"),
    ("samples", f"metric eq 'up' and not (job eq 'blackbox' or job eq 'pushgateway') and {_LAST_DAY}"),
    ("samples", "metric eq 'temperature_celsius' and sensor in ('rack+1','rack|2') and value gt 40.5"),
    ("samples", "metric eq 'queue_depth' and (queue eq 'orders.eu/west' or queue eq 'orders.us/east')"),
    ("samples", "metric eq 'apiserver_request_total' and verb ne 'WATCH' and code eq '429'"),
    ("samples", "metric eq 'etcd_server_has_leader' and value eq 0"),
    (
        "samples",
        f"metric eq 'grpc_server_handled_total' and grpc_service eq 'orders.v1.Orders' and grpc_code ne 'OK'"
        f" and {_LAST_HOUR}",
    ),
    ("samples", "metric eq 'jvm_memory_used_bytes' and area eq 'heap' and contains(id,'Old Gen')"),
    ("requests", "job eq 'api'"),
    ("requests", f"job eq 'api' and {_LAST_HOUR}"),
    ("requests", "job in ('api','web') and code ne '200'"),
    ("requests", f"startswith(code,'5') and {_LAST_DAY}"),
    ("requests", "path eq '/v1/orders' and method eq 'POST' and value gt 10"),
    ("requests", f"contains(path,'/v1/a.b') and not (code eq '404') and {_LAST_HOUR}"),
    ("requests", "job eq 'api' and (code eq '500' or code eq '503')"),
    ("requests", f"handler eq '/healthz' and value lt 0.01 and {_AT_NOON}"),
    ("cpu", "mode eq 'user'"),
    ("cpu", f"mode ne 'idle' and {_LAST_HOUR}"),
    ("cpu", "mode in ('user','system','iowait') and startswith(instance,'10.0.')"),
    ("cpu", f"endswith(instance,':9100') and mode eq 'steal' and value gt 0.05 and {_LAST_DAY}"),
    ("cpu", "not (mode in ('idle','iowait')) and contains(instance,'node-')"),
    ("cpu", f"cpu eq '0' and mode eq 'system' and {_AT_NOON}"),
]

ES_QUERY: dict[str, Any] = {
    "index": "logs-*",
    "fields": {
        "service": "keyword",
        "env": "keyword",
        "region": "keyword",
        "level": "keyword",
        "message": "text",
        "status": "long",
        "latency_ms": "double",
        "bytes": "long",
        "ts": "date",
        "http/method": "keyword",
        "http/path": "keyword",
        "host/name": "keyword",
        "user/id": "keyword",
        "trace_id": "keyword",
        "error": "boolean",
    },
}

_ES_HOUR = "ts ge 2024-05-01T11:00:00Z and ts lt 2024-05-01T12:00:00Z"
_ES_DAY = "ts ge 2024-04-30T12:00:00Z and ts lt 2024-05-01T12:00:00Z"

ES_FILTERS: list[str] = [
    "service eq 'checkout'",
    "service eq 'checkout' and level eq 'error'",
    f"service eq 'checkout' and level eq 'error' and {_ES_HOUR}",
    "level in ('error','fatal')",
    f"level in ('error','fatal') and env eq 'prod' and {_ES_DAY}",
    "status ge 500",
    "status ge 500 and status lt 600 and service eq 'api'",
    f"status eq 429 and region eq 'eu-west-1' and {_ES_HOUR}",
    "latency_ms gt 1000",
    "latency_ms gt 250.5 and http/method eq 'GET' and startswith(http/path,'/api/v1/')",
    "contains(message,'connection refused')",
    f"contains(message,'timeout') and service eq 'payments' and {_ES_HOUR}",
    "contains(message,'out of memory') and level eq 'fatal'",
    "contains(message,'deadlock detected') and (service eq 'orders' or service eq 'billing')",
    "trace_id eq '4bf92f3577b34da6a3ce929d0e0e4736'",
    "user/id eq 'u-1842' and env eq 'prod'",
    f"user/id in ('u-1842','u-2210','u-9981') and {_ES_DAY}",
    "host/name eq 'node-7.prod.internal'",
    "endswith(host/name,'.prod.internal') and level eq 'warn'",
    "startswith(host/name,'ip-10-0-') and status ge 500",
    "contains(http/path,'/checkout') and http/method eq 'POST'",
    "http/path eq '/api/v1/orders' and status in (500, 502, 503, 504)",
    "error eq true",
    f"error eq true and service ne 'healthcheck' and {_ES_HOUR}",
    "not (level eq 'debug') and service eq 'auth'",
    "not (service in ('healthcheck','metrics-exporter'))",
    "env eq 'staging' and not contains(message,'heartbeat')",
    "bytes gt 1048576 and http/method eq 'GET'",
    f"bytes gt 10485760 and {_ES_DAY}",
    "region eq 'us-east-1' or region eq 'us-west-2'",
    "(level eq 'error' and service eq 'api') or (level eq 'fatal')",
    f"(status ge 500 or error eq true) and env eq 'prod' and {_ES_HOUR}",
    "service eq 'search' and latency_ms ge 500 and latency_ms lt 2000",
    "service eq null",
    "trace_id ne null and level eq 'error'",
    "startswith(service,'pay') and level eq 'error'",
    "endswith(service,'-worker') and contains(message,'retry')",
    "contains(service,'gateway') and status eq 502",
    "ts ge 2024-05-01T00:00:00Z and service eq 'cron' and contains(message,'job failed')",
    "level eq 'warn' and contains(message,'deprecated') and env ne 'dev'",
    "http/method in ('PUT','PATCH','DELETE') and status ge 400",
    f"user/id eq 'u-1842' and contains(message,'login failed') and {_ES_DAY}",
    "service eq 'auth' and contains(message,'invalid token') and status eq 401",
    "status eq 404 and startswith(http/path,'/static/')",
    "latency_ms le 5 and http/path eq '/healthz'",
    "region in ('eu-west-1','eu-central-1') and level in ('error','fatal') and env eq 'prod'",
    f"not (status lt 400) and service eq 'checkout' and {_ES_HOUR}",
    "error eq false and level eq 'error'",
    "contains(message,'TLS handshake') and startswith(host/name,'edge-')",
    "service eq 'orders' and (status eq 409 or contains(message,'conflict'))",
    f"env eq 'prod' and region eq 'ap-southeast-2' and latency_ms gt 800 and {_ES_DAY}",
    "contains(trace_id,'4bf92f') and level ne 'debug'",
    "service eq 'billing' and bytes ge 0 and not (error eq true)",
    "level eq 'error' and endswith(http/path,'/pay') and http/method eq 'POST'",
    "service in ('api','web','worker') and status ge 500 and contains(message,'upstream')",
]


#: A typical GraphQL listing API for the graphql adapter (given as SDL: translation does no I/O).
GRAPHQL_SDL = """
type Query { orders(where: OrderWhere, orderBy: [OrderOrder!], first: Int, offset: Int): OrderPage! }
type OrderPage { nodes: [Order!]!, totalCount: Int! }
type Order { id: ID!, customer: String, status: String, region: String, total: Float, items: Int, placed: String }
input OrderWhere {
  customer: StrOps, status: StrOps, region: StrOps, total: NumOps, items: IntOps, placed: StrOps
  and: [OrderWhere!], or: [OrderWhere!], not: OrderWhere
}
input StrOps { eq: String, ne: String, in: [String!], contains: String, startswith: String, endswith: String,
  gt: String, ge: String, lt: String, le: String }
input NumOps { eq: Float, ne: Float, gt: Float, ge: Float, lt: Float, le: Float }
input IntOps { eq: Int, ne: Int, gt: Int, ge: Int, lt: Int, le: Int, in: [Int!] }
input OrderOrder { customer: Dir, total: Dir, placed: Dir, id: Dir }
enum Dir { ASC DESC }
"""
GRAPHQL_QUERY: dict[str, Any] = {
    "field": "orders",
    "items": "nodes",
    "total": "totalCount",
    "filter_input": "where",
    "orderby_argument": "orderBy",
    "top_argument": "first",
    "skip_argument": "offset",
}
_GQL_SHAPES = (
    "status eq '{s}'",
    "status eq '{s}' and total gt {n}",
    "region in ('eu','us','{r}') and items ge {k}",
    "contains(customer,'{c}') or startswith(customer,'{c}')",
    "not (status eq '{s}') and placed ge '2024-05-0{k}'",
    "(total gt {n} and total lt {m}) or (items eq {k} and region ne '{r}')",
)
#: Sixty filters: every shape with ten sets of values (values differ, documents repeat: as dashboards do).
GRAPHQL_FILTERS: list[str] = [
    shape.format(s=f"st{i}", n=10 * i, m=10 * i + 50, r=f"r{i}", k=i % 9 + 1, c=f"cust{i}")
    for i in range(10)
    for shape in _GQL_SHAPES
]
