#!/usr/bin/env python3
"""A process kubelet for the test cluster: runs each Deployment pod's real binary as a host process.

KWOK fakes every pod: it marks them Running and Ready and runs nothing. This kubelet takes over the
pods that belong to Deployments (owner kind ReplicaSet) on the KWOK node and, where a binary for the
pod's image is available, runs it as that pod would run:

- in a network namespace of its own at the pod's IP, on the bridge of the test cluster's network
  namespace (ports never clash, the API server reaches webhooks through EndpointSlices);
- with the container's args and env exactly as rendered (fieldRefs, configMap/secret refs and
  $(VAR) references resolved as kubelet resolves them), plus the variables kubelet itself adds
  (KUBERNETES_SERVICE_HOST/PORT, HOSTNAME);
- with the pod's volumes mounted at their mount paths in a private mount namespace (configMap,
  secret, emptyDir, downwardAPI, projected: the ServiceAccount token comes from a TokenRequest bound
  to the pod, exactly like kubelet's kube-api-access volume);
- with the pod's hostname, restarted when it exits or fails its liveness probe (unless a test holds
  it down with a file `hold` in the pod's state directory), Ready only while its readiness probe
  passes.

Pods whose image has no binary are marked Running and Ready without a process (what KWOK did),
so Deployments of versions that are not built still become Available. All other pods (TaskRun
pods, bare pods) are left to KWOK's stages.

Images map to binaries by name: `.../cmd/<cmd>:<version>` or `.../<cmd>-<hash>:<version>`
becomes `<bin-dir>/<version>/<cmd>`; an exact image may be mapped by a test with an executable
(or symlink) `<bin-dir>/images/<image with / as _>`.

It polls the API server (no client library: the standard library only) and runs until killed;
on SIGTERM it stops every process it started and removes their network namespaces.
"""

import argparse
import base64
import http.client
import json
import os
import re
import shlex
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone

ARGS = None
STOP = threading.Event()


def log(msg):
    print(f"{datetime.now(timezone.utc).strftime('%H:%M:%S.%f')[:-3]} kubelet: {msg}", flush=True)


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# API access


class Api:
    def __init__(self, server, token, ca_file):
        self.server = server.rstrip("/")
        self.token = token
        self.ctx = ssl.create_default_context(cafile=ca_file)

    def call(self, method, path, body=None, content_type="application/json", ok404=False):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=15) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            if err.code == 404 and ok404:
                return None
            raise RuntimeError(f"{method} {path}: HTTP {err.code}: {err.read()[:400]!r}") from None

    def get(self, path, ok404=False):
        return self.call("GET", path, ok404=ok404)


API = None


# ---------------------------------------------------------------------------------------------
# Addresses and network namespaces


class Ips:
    """Hands out pod addresses from the pool 10.77.<first>.1 … 10.77.<last>.254."""

    def __init__(self, prefix, first, last):
        self.free = [f"{prefix}.{a}.{b}" for a in range(first, last + 1) for b in range(1, 255)]
        self.lock = threading.Lock()

    def take(self):
        with self.lock:
            return self.free.pop(0)

    def give(self, ip):
        with self.lock:
            self.free.append(ip)


def sh(*cmd, check=True):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if check and res.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)}: {res.stderr.strip()}")
    return res


def make_netns(name, veth, ip):
    sh("ip", "netns", "add", name)
    sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
    sh("ip", "link", "set", veth, "master", ARGS.bridge, "up")
    sh("ip", "-n", name, "link", "set", "lo", "up")
    sh("ip", "-n", name, "addr", "add", f"{ip}/16", "dev", "eth0")
    sh("ip", "-n", name, "link", "set", "eth0", "up")
    # Only the bridge's /16 (API server, webhooks, other pods) is reachable. Everything else, the
    # cloud metadata address 169.254.169.254 that credential providers probe and the host's DNS
    # server included, is `unreachable`: a connect fails at once with ENETUNREACH instead of
    # waiting for a silent drop, and nothing leaves the cluster's namespace either way.
    sh("ip", "-n", name, "route", "add", "unreachable", "default")


def drop_netns(name, veth):
    sh("ip", "link", "del", veth, check=False)
    sh("ip", "netns", "del", name, check=False)


# ---------------------------------------------------------------------------------------------
# Pods

IMAGE = re.compile(r"/(?:cmd/)?(?P<cmd>[a-z0-9]+?)(?:-[0-9a-f]{32})?:(?P<version>v[0-9][0-9a-z.\-]*)(?:@|$)")


def binary_for(image):
    # A test may map an exact image to a binary: <bin-dir>/images/<image, `/` as `_`> (the
    # operator's own image, run from the tkn-multi binary the tests built).
    mapped = os.path.join(ARGS.bin_dir, "images", image.replace("/", "_"))
    if os.access(mapped, os.X_OK):
        return os.path.realpath(mapped)
    m = IMAGE.search(image)
    if not m:
        return None
    path = os.path.join(ARGS.bin_dir, m.group("version"), m.group("cmd"))
    return path if os.access(path, os.X_OK) else None


def field_ref(pod, path, ip):
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta["name"],
        "metadata.namespace": meta["namespace"],
        "metadata.uid": meta["uid"],
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
        "status.hostIP": ARGS.gateway,
        "status.podIP": ip,
        "status.podIPs": ip,
    }
    if path in simple:
        return simple[path]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        return meta.get(m.group(1), {}).get(m.group(2), "")
    raise RuntimeError(f"unsupported fieldRef {path}")


def key_ref(namespace, kind, ref):
    obj = API.get(f"/api/v1/namespaces/{namespace}/{kind}/{ref['name']}", ok404=True)
    if obj is None:
        if ref.get("optional"):
            return None
        raise RuntimeError(f"{kind} {namespace}/{ref['name']} not found")
    if kind == "secrets":
        value = obj.get("data", {}).get(ref["key"])
        value = None if value is None else base64.b64decode(value).decode()
    else:
        value = obj.get("data", {}).get(ref["key"])
    if value is None and not ref.get("optional"):
        raise RuntimeError(f"{kind} {namespace}/{ref['name']} has no key {ref['key']}")
    return value


QUANTITY = {"": 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def resource_ref(container, ref):
    res = ref["resource"]
    kind, _, what = res.partition(".")
    value = container.get("resources", {}).get(kind, {}).get(what)
    if value is None:
        return "0"
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value))
    number = float(m.group(1)) * QUANTITY.get(m.group(2), 1)
    divisor = ref.get("divisor", "1")
    d = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(divisor))
    number /= float(d.group(1)) * QUANTITY.get(d.group(2), 1)
    return str(int(-(-number // 1)))  # kubelet rounds up


def expand(value, env):
    """Kubelet's $(VAR) expansion: $$ escapes, unknown references stay as written."""

    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.\-]*)\)", sub, value)


def container_env(pod, container, ip):
    ns = pod["metadata"]["namespace"]
    env = {}
    for src in container.get("envFrom", []):
        prefix = src.get("prefix", "")
        for kind, key in (("configMapRef", "configmaps"), ("secretRef", "secrets")):
            if kind in src:
                obj = API.get(f"/api/v1/namespaces/{ns}/{key}/{src[kind]['name']}", ok404=True) or {}
                for k, v in obj.get("data", {}).items():
                    env[prefix + k] = base64.b64decode(v).decode() if key == "secrets" else v
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
        elif "valueFrom" in item:
            vf = item["valueFrom"]
            if "fieldRef" in vf:
                value = field_ref(pod, vf["fieldRef"]["fieldPath"], ip)
            elif "configMapKeyRef" in vf:
                value = key_ref(ns, "configmaps", vf["configMapKeyRef"])
            elif "secretKeyRef" in vf:
                value = key_ref(ns, "secrets", vf["secretKeyRef"])
            elif "resourceFieldRef" in vf:
                value = resource_ref(container, vf["resourceFieldRef"])
            else:
                raise RuntimeError(f"unsupported env source {vf}")
            if value is not None:
                env[item["name"]] = value
        else:
            env[item["name"]] = ""
    # What kubelet adds to every container (pkg/kubelet/kubelet_pods.go makeEnvironmentVariables).
    host, port = ARGS.gateway, str(ARGS.api_port)
    kubelet_env = {
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        "KUBERNETES_PORT_443_TCP": f"tcp://{host}:{port}",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": port,
        "KUBERNETES_PORT_443_TCP_ADDR": host,
        "HOSTNAME": pod["metadata"]["name"],
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    }
    for k, v in kubelet_env.items():
        env.setdefault(k, v)
    return env


def write_files(directory, files, mode):
    os.makedirs(directory, exist_ok=True)
    for rel, data in files.items():
        path = os.path.join(directory, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)


def object_files(ns, kind, src):
    obj = API.get(f"/api/v1/namespaces/{ns}/{kind}/{src.get('name') or src.get('secretName')}", ok404=True)
    if obj is None:
        if src.get("optional"):
            return {}
        raise RuntimeError(f"volume source {kind} {src.get('name') or src.get('secretName')} not found")
    data = {k: (base64.b64decode(v) if kind == "secrets" else v.encode()) for k, v in obj.get("data", {}).items()}
    if kind == "configmaps":
        data.update({k: base64.b64decode(v) for k, v in obj.get("binaryData", {}).items()})
    if src.get("items"):
        return {i["path"]: data[i["key"]] for i in src["items"] if i["key"] in data}
    return data


def token_files(pod, src):
    meta = pod["metadata"]
    sa = pod["spec"].get("serviceAccountName", "default")
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "audiences": [src["audience"]] if src.get("audience") else None,
            "expirationSeconds": max(int(src.get("expirationSeconds", 3607)), 86400),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
        },
    }
    if body["spec"]["audiences"] is None:
        del body["spec"]["audiences"]
    resp = API.call("POST", f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{sa}/token", body)
    return {src.get("path", "token"): resp["status"]["token"].encode()}


def downward_files(pod, items, ip):
    out = {}
    for item in items:
        if "fieldRef" in item:
            out[item["path"]] = field_ref(pod, item["fieldRef"]["fieldPath"], ip).encode()
    return out


def volume_dirs(pod, root, ip):
    """Materialises every volume of the pod under root/volumes/<name>; returns name → dir."""
    ns = pod["metadata"]["namespace"]
    dirs = {}
    for vol in pod["spec"].get("volumes", []):
        name = vol["name"]
        d = os.path.join(root, "volumes", name)
        if "configMap" in vol:
            write_files(d, object_files(ns, "configmaps", vol["configMap"]), 0o644)
        elif "secret" in vol:
            write_files(d, object_files(ns, "secrets", vol["secret"]), 0o600)
        elif "emptyDir" in vol:
            os.makedirs(d, exist_ok=True)
        elif "downwardAPI" in vol:
            write_files(d, downward_files(pod, vol["downwardAPI"].get("items", []), ip), 0o644)
        elif "projected" in vol:
            files = {}
            for s in vol["projected"].get("sources", []):
                if "serviceAccountToken" in s:
                    files.update(token_files(pod, s["serviceAccountToken"]))
                elif "configMap" in s:
                    files.update(object_files(ns, "configmaps", s["configMap"]))
                elif "secret" in s:
                    files.update(object_files(ns, "secrets", s["secret"]))
                elif "downwardAPI" in s:
                    files.update(downward_files(pod, s["downwardAPI"].get("items", []), ip))
            write_files(d, files, 0o644)
        elif "hostPath" in vol:
            d = vol["hostPath"]["path"]
        else:
            raise RuntimeError(f"unsupported volume {name}: {sorted(vol)}")
        dirs[name] = d
    return dirs


# What an image's paths are on this machine: its entrypoint /ko-app/<cmd> is the binary built for
# the image; tini (v1.x resolvers run under `/sbin/tini --`) is Debian's static build.
HOST_PATHS = {"/sbin/tini": "/usr/bin/tini-static", "/usr/bin/tini": "/usr/bin/tini-static"}


def launch_script(pod_name, top, mounts, argv, binary, workdir):
    """A bash script that, in a fresh mount namespace, mounts the pod's volumes, sets its hostname
    and execs argv. Sources and executables are first bound into a staging directory and used by
    relative paths from it (and executables through inherited file descriptors), because a volume
    may be mounted over the directory they live in (v1.x resolvers mount an emptyDir at /tmp)."""
    q = shlex.quote
    lines = [
        "set -eu",
        f"hostname {q(pod_name)}",
        f"mount -t tmpfs tkn-multi-pod {q(top)}",
        f"mkdir {q(top)}/stage {q(top)}/ov",
        f"cd {q(top)}/stage",
    ]
    for n, (src, _, _) in enumerate(mounts):
        make = "mkdir" if os.path.isdir(src) else ": >"
        lines.append(f"{make} v{n} && mount -c --bind {q(src)} v{n}")
    # Executables: the program and any argument that names an image path we provide.
    argv = list(argv)
    fds = []
    for k, token in enumerate(argv):
        host = binary if re.fullmatch(r"/ko-app/[a-z0-9-]+", token) else HOST_PATHS.get(token)
        if k == 0 and host is None:
            host = binary if not token.startswith("/") or not os.path.exists(token) else token
        if host is None:
            continue
        fd = 9 - len(fds)
        lines.append(f": > e{fd} && mount -c --bind {q(host)} e{fd}")
        fds.append((k, fd))
    # Mount points that do not exist are made in an overlay over their nearest existing ancestor,
    # never on the host; then every volume is bound from its staged copy.
    lines.append(r"""point() { dst=$1; kind=$2
  [ -e "$dst" ] && return 0
  anc=$(dirname "$dst"); while [ ! -d "$anc" ]; do anc=$(dirname "$anc"); done
  anc=$(readlink -f "$anc"); key=$(echo "$anc" | tr / _)
  mkdir -p "../ov/$key.u" "../ov/$key.w"
  mount -t overlay overlay -o "lowerdir=$anc,upperdir=$PWD/../ov/$key.u,workdir=$PWD/../ov/$key.w" "$anc"
  if [ "$kind" = dir ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")"; : > "$dst"; fi
}""")
    # Every mount point first (the overlays name the staging directory by absolute path, which a
    # bound volume may hide), then the binds, parents before children. A mount point that does not
    # exist under a directory another volume is mounted on is not supported (no Tekton pod has one).
    for src, dst, _ in mounts:
        lines.append(f"point {q(dst)} {'dir' if os.path.isdir(src) else 'file'}")
    for n, (src, dst, ro) in sorted(enumerate(mounts), key=lambda m: m[1][1].count("/")):
        lines.append(f"mount -c --bind v{n} {q(dst)}")
        if ro:
            lines.append(f"mount -c -o remount,bind,ro {q(dst)}")
    for k, fd in fds:
        lines.append(f"exec {fd}< e{fd}")
    lines.append(f"cd {q(workdir)}")
    prog_fd = dict(fds).get(0)
    rest = [f"/proc/self/fd/{dict(fds)[k]}" if k in dict(fds) else a for k, a in enumerate(argv)][1:]
    target = f"/proc/self/fd/{prog_fd}" if prog_fd is not None else q(argv[0])
    lines.append(f"exec -a {q(argv[0])} {target} {' '.join(q(a) for a in rest)}")
    return "\n".join(lines) + "\n"


class PodWorker(threading.Thread):
    """Runs one pod: its network namespace, its process, its probes and its status."""

    def __init__(self, pod, ip, index):
        super().__init__(daemon=True)
        self.pod = pod
        self.uid = pod["metadata"]["uid"]
        self.key = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        self.ip = ip
        self.netns = f"{ARGS.netns_prefix}{index}"
        self.veth = f"{ARGS.veth_prefix}{index}"
        self.root = os.path.join(ARGS.state_dir, "pods", f"{pod['metadata']['namespace']}_{pod['metadata']['name']}")
        self.containers = pod["spec"]["containers"]
        self.binaries = [binary_for(c["image"]) for c in self.containers]
        self.real = all(self.binaries)
        self.procs = [None] * len(self.containers)
        self.restarts = [0] * len(self.containers)
        self.last_state = [None] * len(self.containers)
        self.started_at = [None] * len(self.containers)
        self.ready = [False] * len(self.containers)
        self.live_fail = [0] * len(self.containers)
        self.next_start = [0.0] * len(self.containers)
        self.started_mono = [0.0] * len(self.containers)
        self.stopping = threading.Event()
        self.start_time = now()
        self.reported = None

    # -- status

    def status(self):
        conds_ready = all(self.ready)
        t = self.start_time
        statuses = []
        for i, c in enumerate(self.containers):
            s = {
                "name": c["name"],
                "image": c["image"],
                "imageID": c["image"],
                "ready": self.ready[i],
                "started": self.procs[i] is not None or not self.real,
                "restartCount": self.restarts[i],
            }
            if self.real and self.procs[i] is None:
                s["state"] = {"waiting": {"reason": "CrashLoopBackOff" if self.restarts[i] else "ContainerCreating"}}
            else:
                s["state"] = {"running": {"startedAt": self.started_at[i] or t}}
                if self.real:
                    s["containerID"] = f"proc://{self.procs[i].pid}"
            if self.last_state[i]:
                s["lastState"] = {"terminated": self.last_state[i]}
            statuses.append(s)
        ready = "True" if conds_ready else "False"
        return {
            "phase": "Running",
            "hostIP": ARGS.gateway,
            "hostIPs": [{"ip": ARGS.gateway}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "startTime": t,
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": t},
                {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                {"type": "Ready", "status": ready, "lastTransitionTime": now()},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": now()},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
            ],
            "containerStatuses": statuses,
        }

    def report(self):
        status = self.status()
        digest = json.dumps(
            [(s["ready"], s["restartCount"], list(s["state"])) for s in status["containerStatuses"]]
        )
        if digest == self.reported:
            return
        meta = self.pod["metadata"]
        try:
            API.call(
                "PATCH",
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                {"status": status},
                "application/merge-patch+json",
            )
            self.reported = digest
        except RuntimeError as err:
            log(f"{self.key}: status update failed: {err}")

    # -- processes

    def launch(self, i, volumes, env):
        c = self.containers[i]
        mounts = []
        for m in c.get("volumeMounts", []):
            src = volumes[m["name"]]
            if m.get("subPath"):
                src = os.path.join(src, m["subPath"])
            mounts.append((src, m["mountPath"], bool(m.get("readOnly"))))
        argv = [expand(a, env) for a in c.get("command", [])] or [f"/ko-app/{os.path.basename(self.binaries[i])}"]
        argv += [expand(a, env) for a in c.get("args", [])]
        top = os.path.join(self.root, f"mnt-{c['name']}")
        os.makedirs(top, exist_ok=True)
        script = os.path.join(self.root, f"launch-{c['name']}.sh")
        with open(script, "w") as f:
            f.write(launch_script(self.pod["metadata"]["name"], top, mounts, argv, self.binaries[i],
                                  c.get("workingDir") or "/"))
        cmd = ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--uts", "--propagation", "private",
               "bash", script]
        logf = open(os.path.join(ARGS.log_dir, f"{self.pod['metadata']['namespace']}_{self.pod['metadata']['name']}_{c['name']}.log"), "ab")
        logf.write(f"--- {now()} start (restart {self.restarts[i]}): {shlex.join(argv)}\n".encode())
        logf.flush()
        self.procs[i] = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=self.root,
                                         start_new_session=True)
        with open(os.path.join(self.root, f"{c['name']}.pid"), "w") as f:
            f.write(str(self.procs[i].pid))
        self.started_at[i] = now()
        self.started_mono[i] = time.monotonic()
        self.live_fail[i] = 0
        log(f"{self.key}/{c['name']}: started pid {self.procs[i].pid} at {self.ip}")

    def kill(self, i, grace):
        p = self.procs[i]
        if p is None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    def probe(self, c, probe):
        if "httpGet" in probe:
            g = probe["httpGet"]
            port = g["port"]
            if isinstance(port, str) and not port.isdigit():
                port = next((p["containerPort"] for p in c.get("ports", []) if p.get("name") == port), None)
                if port is None:
                    return False
            conn_cls = http.client.HTTPSConnection if g.get("scheme", "HTTP") == "HTTPS" else http.client.HTTPConnection
            kwargs = {"context": ssl._create_unverified_context()} if conn_cls is http.client.HTTPSConnection else {}
            try:
                conn = conn_cls(self.ip, int(port), timeout=probe.get("timeoutSeconds", 1), **kwargs)
                headers = {h["name"]: h["value"] for h in g.get("httpHeaders", [])}
                headers.setdefault("User-Agent", "kube-probe/1.37")
                conn.request("GET", g.get("path", "/"), headers=headers)
                code = conn.getresponse().status
                conn.close()
                return 200 <= code < 400
            except OSError:
                return False
        if "tcpSocket" in probe:
            import socket

            try:
                socket.create_connection((self.ip, int(probe["tcpSocket"]["port"])), timeout=1).close()
                return True
            except OSError:
                return False
        return True  # exec and grpc probes are not run: treated as passing

    def run(self):
        try:
            self.run_pod()
        except Exception as err:  # noqa: BLE001 — a broken pod must not stop the kubelet
            log(f"{self.key}: failed: {err}")
            with open(os.path.join(ARGS.log_dir, "kubelet-errors.log"), "a") as f:
                f.write(f"{now()} {self.key}: {err}\n")

    def run_pod(self):
        os.makedirs(self.root, exist_ok=True)
        if not self.real:
            self.ready = [True] * len(self.containers)
            self.report()
            log(f"{self.key}: no binary for {[c['image'] for c in self.containers]}: simulated at {self.ip}")
            self.stopping.wait()
            return
        make_netns(self.netns, self.veth, self.ip)
        volumes = volume_dirs(self.pod, self.root, self.ip)
        envs = [container_env(self.pod, c, self.ip) for c in self.containers]
        self.report()
        while not self.stopping.is_set():
            t = time.monotonic()
            for i, c in enumerate(self.containers):
                p = self.procs[i]
                if p is not None and p.poll() is not None:
                    self.last_state[i] = {"exitCode": p.returncode, "reason": "Error" if p.returncode else "Completed",
                                          "startedAt": self.started_at[i], "finishedAt": now()}
                    log(f"{self.key}/{c['name']}: exited with {p.returncode}")
                    self.procs[i] = None
                    self.ready[i] = False
                    self.restarts[i] += 1
                    # kubelet's crash-loop back-off, shortened: 1 s, 2 s, 4 s … at most 10 s.
                    self.next_start[i] = t + min(10, 2 ** (self.restarts[i] - 1))
                # A test holds a pod down by creating <pod dir>/hold: its processes are not restarted.
                held = os.path.exists(os.path.join(self.root, "hold"))
                if self.procs[i] is None and t >= self.next_start[i] and not held:
                    self.launch(i, volumes, envs[i])
                if self.procs[i] is None:
                    continue
                since = time.monotonic() - self.started_mono[i]
                rp = c.get("readinessProbe")
                self.ready[i] = self.probe(c, rp) if rp and since >= rp.get("initialDelaySeconds", 0) else (rp is None)
                lp = c.get("livenessProbe")
                if lp and since >= lp.get("initialDelaySeconds", 0) + 1:
                    if self.probe(c, lp):
                        self.live_fail[i] = 0
                    else:
                        self.live_fail[i] += 1
                        if self.live_fail[i] >= max(lp.get("failureThreshold", 3), 3) * max(lp.get("periodSeconds", 10), 1):
                            log(f"{self.key}/{c['name']}: liveness probe failed, restarting")
                            self.kill(i, 5)
            self.report()
            self.stopping.wait(1)

    def stop(self, grace):
        self.stopping.set()
        for i in range(len(self.containers)):
            self.kill(i, grace)
        if self.real:
            drop_netns(self.netns, self.veth)
        for sub in os.listdir(self.root) if os.path.isdir(self.root) else []:
            if sub.startswith("mnt-"):
                subprocess.run(["umount", "-R", "-l", os.path.join(self.root, sub)], capture_output=True)


# ---------------------------------------------------------------------------------------------
# The loop


def ours(pod):
    if pod["spec"].get("nodeName") != ARGS.node:
        return False
    return any(o.get("kind") == "ReplicaSet" for o in pod["metadata"].get("ownerReferences", []))


def main():
    global ARGS, API
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--server", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--ca-file", required=True)
    p.add_argument("--node", default="kwok-node-0")
    p.add_argument("--api-port", type=int, required=True)
    p.add_argument("--gateway", default="10.77.0.1", help="the bridge's address: API server and pods' route")
    p.add_argument("--bridge", default="br0")
    p.add_argument("--pool", default="10.77:1:4", help="PREFIX:FIRST:LAST third octets of pod addresses")
    p.add_argument("--netns-prefix", required=True)
    p.add_argument("--veth-prefix", default="tkp",
                   help="host-side veth names (<prefix><N>, 15 characters at most): one per kubelet on a bridge")
    p.add_argument("--bin-dir", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--log-dir", required=True)
    ARGS = p.parse_args()
    with open(ARGS.token_file) as f:
        API = Api(ARGS.server, f.read().strip(), ARGS.ca_file)
    prefix, first, last = ARGS.pool.split(":")
    ips = Ips(prefix, int(first), int(last))
    workers = {}
    index = 0

    def shutdown(*_):
        STOP.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log(f"watching pods of Deployments on {ARGS.node}; binaries in {ARGS.bin_dir}")
    while not STOP.is_set():
        try:
            pods = API.get(f"/api/v1/pods?fieldSelector=spec.nodeName%3D{ARGS.node}")["items"]
        except (RuntimeError, OSError) as err:
            log(f"listing pods failed: {err}")
            STOP.wait(1)
            continue
        seen = set()
        for pod in pods:
            if not ours(pod):
                continue
            uid = pod["metadata"]["uid"]
            seen.add(uid)
            w = workers.get(uid)
            if pod["metadata"].get("deletionTimestamp"):
                grace = min(int(pod["metadata"].get("deletionGracePeriodSeconds") or 30), 10)
                if isinstance(w, PodWorker):
                    threading.Thread(target=finish, args=(w, grace, ips), daemon=True).start()
                    workers[uid] = "deleting"
                elif w is None:
                    delete_pod(pod)
                continue
            if w is None and pod["status"].get("phase", "Pending") == "Pending":
                index += 1
                w = PodWorker(pod, ips.take(), index)
                workers[uid] = w
                w.start()
        for uid in [u for u in workers if u not in seen]:
            w = workers.pop(uid)
            if isinstance(w, PodWorker):
                threading.Thread(target=finish, args=(w, 1, ips, False), daemon=True).start()
        STOP.wait(0.5)
    log("stopping every pod")
    threads = [threading.Thread(target=w.stop, args=(2,)) for w in workers.values() if isinstance(w, PodWorker)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log("stopped")


def finish(w, grace, ips, delete=True):
    w.stop(grace)
    ips.give(w.ip)
    if delete:
        delete_pod(w.pod)


def delete_pod(pod):
    meta = pod["metadata"]
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
            "preconditions": {"uid": meta["uid"]}}
    try:
        API.call("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}", body, ok404=True)
    except RuntimeError as err:
        if "HTTP 409" not in str(err):
            log(f"deleting {meta['namespace']}/{meta['name']} failed: {err}")


if __name__ == "__main__":
    sys.exit(main())
