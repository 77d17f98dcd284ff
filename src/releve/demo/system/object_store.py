"""`releve demo --s3`: the vault in a bucket with Object Lock, on a real Ceph radosgw that
the demo starts in DIR/object-store and stops with everything else.

The store is the repository's `scripts/object-store` (one mon, mgr, OSD and radosgw on
loopback, three S3 users in credentials.json). At the first start the demo plays the IT
team: as the bucket's owner it creates the bucket with Object Lock, `releve vault init`s
the vault in it and applies the least-privilege policy (`releve vault policy --apply`);
then the capture writes with the capture user's keys and the stations read with the
station user's, each given to its process in the S3 ecosystem's environment variables
only, never on a command line or in a log.

`scripts/object-store start` wants an empty folder, so a restart of the demo brings the
same cluster back up itself (`resume`): the same daemons, configuration and ports, with
their pid files where `scripts/object-store stop` finds them.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from .children import releve
from .place import DemoError, Place, Settings

log = logging.getLogger("releve.demo")

# src/releve/demo/system/ -> the repository, whose scripts/ the package does not install
SCRIPT = Path(__file__).resolve().parents[4] / "scripts" / "object-store"
TOOLS = ("ceph", "ceph-mon", "ceph-mgr", "ceph-osd", "radosgw", "radosgw-admin",
         "ceph-authtool", "monmaptool")
RGW_PORT, MON_PORT = 7580, 3300  # beside radosgw's usual 7480 (in Ceph's OSD range here)
RETENTION_DAYS = 1
START_SECONDS = 180.0
# scripts/object-store's daemons, in start order: (name, command before -c CONF -f)
DAEMONS = (("mon.a", ("ceph-mon", "-i", "a")), ("mgr.x", ("ceph-mgr", "-i", "x")),
           ("osd.0", ("ceph-osd", "-i", "0")), ("client.rgw", ("radosgw", "-n", "client.rgw")))


def check_installed() -> None:
    """Before anything is made: Ceph's programs and the script, or what to run."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise DemoError(f"`releve demo --s3` needs Ceph's daemons ({', '.join(missing)} not "
                        "found): run scripts/bootstrap, which installs Debian's radosgw, "
                        "ceph-mon, ceph-mgr and ceph-osd")
    if not os.access(SCRIPT, os.X_OK):
        raise DemoError(f"`releve demo --s3` runs the repository's scripts/object-store, not "
                        f"found at {SCRIPT}: run it from a checkout of Relève (make demo, or "
                        "pip install -e .)")


@dataclass
class Keys:
    """DIR/object-store/credentials.json: the endpoint and each role's S3 keys."""

    endpoint: str
    region: str
    users: dict[str, dict[str, str]]

    @classmethod
    def load(cls, folder: Path) -> Keys:
        try:
            found = orjson.loads((folder / "credentials.json").read_bytes())
            return cls(found["endpoint"], found["region"], found["users"])
        except (OSError, orjson.JSONDecodeError, KeyError) as exc:
            raise DemoError(f"{folder}/credentials.json cannot be read ({exc})") from None

    def env(self, role: str) -> dict[str, str]:
        """What a `releve` child needs to sign as `role` (owner, capture, station)."""
        keys = self.users[role]
        return {"AWS_ACCESS_KEY_ID": keys["access_key"],
                "AWS_SECRET_ACCESS_KEY": keys["secret_key"],
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region}

    def client(self, role: str) -> Any:
        """A boto3 client signing as `role`, its keys given directly (not this process's
        environment, which the other components' would then share), and blind to the
        terminal's AWS_PROFILE, which names no profile of this store."""
        import boto3
        import botocore.session
        from botocore.config import Config

        keys = self.users[role]
        session = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
        return boto3.session.Session(botocore_session=session).client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"],
            config=Config(signature_version="s3v4",
                                          s3={"addressing_style": "path"},
                                          request_checksum_calculation="when_required",
                                          response_checksum_validation="when_required",
                                          connect_timeout=5, read_timeout=30,
                                          retries={"max_attempts": 1}))


class Store:
    """The demo's object store: started (or resumed), then stopped, whatever happens."""

    def __init__(self, place: Place, stop_requested: threading.Event,
                 rgw_port: int | None = None):
        self.place, self.stop_requested = place, stop_requested
        self.rgw_port = rgw_port  # radosgw's at the first start, the monitor's next (tests)
        self.keys: Keys | None = None
        self.folder = place.object_store
        self.log = place.log("object-store")
        self.started = False
        self.daemons: list[subprocess.Popen] = []  # those `resume` started

    # --- starting -------------------------------------------------------------------------

    def start(self, rgw_port: int, mon_port: int) -> Keys:
        """A new cluster in DIR/object-store, through the script."""
        self.started = True  # from here on, stop() has something to stop
        self._script("start", str(self.folder), str(rgw_port), str(mon_port))
        self.keys = Keys.load(self.folder)
        return self.keys

    def resume(self, settings: Settings) -> Keys:
        """The cluster of an earlier start, on its ports, as the script launches it."""
        conf = self.folder / "ceph.conf"
        if not conf.exists():
            raise DemoError(f"{self.folder} holds no object store (no ceph.conf), but this "
                            f"demo's vault is on it: remove {self.place.root} for a new demo")
        if self._leftovers():  # an earlier demo killed without the chance to stop it
            log.warning("stopping the object store an earlier run left running")
            self._script("stop", str(self.folder))
        busy = [str(port) for port in (settings.s3_port, settings.s3_mon_port) if _listening(port)]
        if busy:
            raise DemoError(f"port {', '.join(busy)} is in use on 127.0.0.1, and this demo's "
                            "object store must listen there again (its monitor's map and "
                            "radosgw's configuration name them): stop what listens there")
        self.started = True
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as handle:
            handle.write(f"--- resume {self.folder}\n".encode())
        for name, command in DAEMONS:
            with open(self.folder / "log" / f"{name}.out", "ab") as out:
                daemon = subprocess.Popen([*command, "-c", str(conf), "-f"], stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            self.daemons.append(daemon)
            (self.folder / "run" / f"{name}.pid").write_text(f"{daemon.pid}\n")
        keys = Keys.load(self.folder)
        deadline = time.monotonic() + START_SECONDS
        while not _radosgw_answers(keys.endpoint):
            if self.stop_requested.is_set():
                raise KeyboardInterrupt
            ended = [name for (name, _), d in zip(DAEMONS, self.daemons, strict=True)
                     if d.poll() is not None]
            if ended or time.monotonic() > deadline:
                why = f"{', '.join(ended)} stopped" if ended else "radosgw does not answer"
                raise DemoError(f"the object store did not come back up ({why}); see "
                                f"{self.folder / 'log'}")
            time.sleep(0.3)
        self.keys = keys
        return keys

    def _leftovers(self) -> bool:
        run = self.folder / "run"
        return any(_alive(pid.read_text().strip()) for pid in run.glob("*.pid")) if run.is_dir() else False

    def _script(self, *args: str) -> None:
        """scripts/object-store ARGS, its output in DIR/logs/object-store.log; in its own
        session, so that a Ctrl-C reaches the demo only, which then stops the store."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as handle:
            handle.write(f"--- {' '.join(['object-store', *args])}\n".encode())
            handle.flush()
            script = subprocess.Popen([str(SCRIPT), *args], stdin=subprocess.DEVNULL,
                                      stdout=handle, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while script.poll() is None:
            if args[0] == "start" and self.stop_requested.is_set():
                os.killpg(script.pid, signal.SIGTERM)
                script.wait()
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                os.killpg(script.pid, signal.SIGKILL)
                script.wait()
                raise DemoError(f"scripts/object-store {args[0]} took over {START_SECONDS:.0f} s; "
                                f"see {self.log}")
            time.sleep(0.2)
        if script.returncode != 0:
            raise DemoError(f"scripts/object-store {args[0]} failed (exit {script.returncode}); "
                            f"see {self.log}")

    # --- stopping -------------------------------------------------------------------------

    def stop(self) -> None:
        """Every daemon of DIR/object-store, waited for; said, never raised: the demo is
        stopping anyway."""
        if not self.started or not (self.folder / "run").is_dir():
            return
        try:
            self._script("stop", str(self.folder))
        except (DemoError, OSError) as exc:
            log.error("the object store did not stop cleanly: %s; stop it with "
                      "`scripts/object-store stop %s`", exc, self.folder)
            return
        for daemon in self.daemons:  # reaped: they were this process's children
            daemon.wait()
        self.daemons.clear()
        log.info("object store stopped")


def create_vault(place: Place, keys: Keys, settings: Settings, recipients: list[str]) -> None:
    """What the IT team does once, as the bucket's owner: the bucket with Object Lock,
    `releve vault init` in it, then the bucket policy (after init, which sets the default
    retention that the policy then forbids anyone to change)."""
    assert settings.s3_bucket and settings.s3_url
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        keys.client("owner").create_bucket(Bucket=settings.s3_bucket, ObjectLockEnabledForBucket=True)
    except (BotoCoreError, ClientError) as exc:
        raise DemoError(f"the bucket {settings.s3_bucket} could not be created: {exc}") from None
    url, owner = settings.s3_url, keys.env("owner")
    _releve(owner, "vault", "init", url, *[f"--recipient={r}" for r in recipients],
            "--signer", place.public_key, "--retention-days", str(RETENTION_DAYS))
    _releve(owner, "vault", "policy", url, "--writer", keys.users["capture"]["user"],
            "--reader", keys.users["station"]["user"], "--apply")


def exports(place: Place, role: str) -> str:
    """`releve demo s3-env ROLE`: the shell lines that give a terminal `role`'s keys, as
    the demo gives them to its components, for the operator's own `releve vault ...`
    or `aws s3api ...` against the demo's bucket."""
    import shlex

    place.require_demo()
    if not place.load_settings().s3_bucket:
        raise DemoError(f"the demo in {place.root} keeps its vault in a folder, not on S3")
    keys = Keys.load(place.object_store)
    if role not in keys.users:
        raise DemoError(f"no S3 user {role!r}: {', '.join(keys.users)}")
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in keys.env(role).items())


def new_bucket_name() -> str:
    return f"releve-demo-{secrets.token_hex(4)}"


def _releve(env: dict[str, str], *args: str | Path) -> None:
    """A `releve` command with these credentials; what it says goes to the demo's log."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    done = subprocess.run(releve(*args), env={**inherited, **env}, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    said = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise DemoError(f"releve {args[0]} {args[1]} failed: {said}")
    log.info("releve %s %s: %s", args[0], args[1], said)


def _radosgw_answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=2) as answer:
            return b"ListAllMyBucketsResult" in answer.read()
    except (OSError, urllib.error.URLError):
        return False


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: str) -> bool:
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, ValueError, IndexError):
        return False
