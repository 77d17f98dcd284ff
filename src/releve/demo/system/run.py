"""`releve demo`: the whole system on one machine, on loopback.

The first start prepares the demo folder (place.py): keys, a vault with one recipient per
station, two stations (two wards) with the demo accounts, whose nurse and physician are
attached to their station's wards after its first sync (ward_staff.py), when the station
also gets its ranges of downtime numbers (peering.py). Every start makes each station a
peer of the other at its current address, so that each pulls the other's journal after
each sync round (peering.py), then runs, each as its own `releve` process logging to
DIR/logs:

    his                releve demo his --db DIR/his/his.db --activity    (the HIS)
    vault              releve vault serve DIR/vault                      (append-only, tokens)
    capture            releve capture --vault URL --interval 30          (HIS -> vault)
    capture-hl7        releve capture hl7 --listen 127.0.0.1:P ...       (HL7 v2 -> vault)
    hl7-feed           python -m releve.demo.his.hl7_feed --port P       (MLLP -> listener)
    sync-WARD          releve station sync --vault URL --interval S      (vault -> station,
                                                                         peer -> station)
    web-WARD           releve station serve --port P, P+1                (the ward's pages)

The HL7 v2 feed stands for another establishment of the hospital group, whose HIS has
no FHIR API (demo/his/hl7_feed.py): its patients are not the FHIR HIS's, so nobody shows
twice on the stations. Its listener shares the FHIR capture's state folder: one writer,
one chain in the vault.

A second start with the same folder resumes: the same hospital (the HIS serves its
database as it is), vault, capture state and stations. After `releve demo attack`, the
HIS's database stays encrypted: the HIS serves it without activity, and the capture keeps
flagging it. `releve demo restore` asks the running demo to restore the HIS from the
backup the attack kept (restore.py): the demo stops the HIS, puts the backup in place and
starts it again, without activity, every other component left running.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape

from ... import clock, logs
from ...errors import ReleveError
from ...station.local.accounts import Accounts
from ...station.local.audit import Audit
from ...station.sync import init_station, open_source
from ...vault import keys as vault_keys
from ...vault.store import LocalVault
from .children import Children, releve
from .health import alive
from .object_store import MON_PORT, RGW_PORT, Keys, Store, check_installed, create_vault, new_bucket_name
from .peering import give_ranges, pair_stations
from .place import ACCOUNTS, PASSWORD, SIGNER, WARDS, DemoError, Place, Run, Settings
from .restore import asked, carry_out, in_use
from .ward_staff import attach_ward_staff

log = logging.getLogger("releve.demo")

HIS_PORT, VAULT_PORT, HL7_PORT = 8800, 8700, 2575  # 2575: MLLP's registered port
STARTUP_SECONDS = 300.0  # a large --beds takes minutes to generate and load


def prepare(place: Place, beds: int, patients: int | None, store: Store | None = None) -> Settings:
    """The demo folder, created at the first start: keys, vault, stations, accounts. With
    `store` (--s3), the object store started (first start) or resumed, the vault in it."""
    if place.is_demo():
        settings = place.load_settings()
        if settings.hl7_now is None:  # a demo made before the HL7 feed: it gets one now
            settings.hl7_now = establishment_now()
            place.save_settings(settings)
        check_mode(place, settings, store is not None)
        if store is not None:
            store.resume(settings)
        return settings
    if place.root.exists() and any(place.root.iterdir()):
        raise DemoError(f"{place.root} is not empty and holds no demo.json (another folder, or "
                        "a first start that was interrupted): remove it or give another --dir")
    place.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings = Settings(beds=beds, patients=patients,
                        his_port=free_port(HIS_PORT), hl7_now=establishment_now())
    recipients = [vault_keys.create_station_identity(place.keys, ward)[1] for ward, _ in WARDS]
    vault_keys.create_signer(place.keys, SIGNER)
    if store is None:
        LocalVault.init(place.vault, recipients, [str(place.public_key)])
    else:
        settings.s3_bucket = new_bucket_name()
        settings.s3_port = store.rgw_port or free_port(RGW_PORT)
        settings.s3_mon_port = free_port(MON_PORT) if store.rgw_port is None else store.rgw_port + 1
        create_vault(place, store.start(settings.s3_port, settings.s3_mon_port), settings,
                     recipients)
    for ward, title in WARDS:
        station = place.station(ward)
        # on S3 the station pins the vault's config at its first sync, with its own keys
        source = open_source(str(place.vault)) if store is None else None
        init_station(station, place.identity(ward), title, source)
        add_demo_accounts(station)
    place.his_db.parent.mkdir(exist_ok=True)
    place.save_settings(settings)  # last: its presence says the folder is complete
    return settings


def check_mode(place: Place, settings: Settings, s3: bool) -> None:
    """A demo keeps the vault it was made with: a folder, or a bucket (--s3)."""
    where = f"--dir {place.root}"
    if settings.s3_bucket and not s3:
        raise DemoError(f"this demo's vault is in the bucket of its object store "
                        f"({settings.s3_url}): start it with `releve demo --s3 {where}`")
    if s3 and not settings.s3_bucket:
        raise DemoError(f"this demo's vault is a folder ({place.vault}): start it without "
                        "--s3, or give another --dir for a demo on S3 (--s3 is chosen at a "
                        "demo's first start)")


def establishment_now() -> str:
    """The HL7 feed's establishment is generated for the moment of the first start and
    stays so: each start sends the same messages, which the listener knows already."""
    return clock.now().replace(second=0, microsecond=0).isoformat()


def add_demo_accounts(station: Path) -> None:
    """ACCOUNTS with the password "demo": short passwords are refused
    everywhere but here (accounts.py), and the audit log says who created them."""
    accounts, audit = Accounts(station), Audit(station)
    for name, role, shown in ACCOUNTS:
        accounts.add_user(name, role, PASSWORD, shown, allow_short=True)
        audit.record("releve-demo", "user-add", "cli", detail=name)


def free_port(preferred: int) -> int:
    """`preferred` if nothing listens there, else one the system chooses."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise DemoError("no free TCP port on 127.0.0.1")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Demo:
    """One run of the demo: its children and what they listen on."""

    def __init__(self, place: Place, settings: Settings, web_port: int, capture_interval: float,
                 sync_interval: float, console: Console, activity: bool = True,
                 keys: Keys | None = None, stop_requested: threading.Event | None = None):
        self.place, self.settings, self.console = place, settings, console
        self.keys = keys  # with --s3: the object store's users, whose keys go to the children
        self.activity = activity  # the HIS's, while the hospital works in it (restore.in_use)
        self.his_activity = False  # whether the HIS runs with it
        self.capture_interval, self.sync_interval = capture_interval, sync_interval
        self.children = Children(withheld=("AWS_",) if keys is not None else ())
        self.stop_requested = stop_requested or threading.Event()
        self.attacked = place.attacked()
        self.web_ports = {ward: web_port + number for number, (ward, _) in enumerate(WARDS)}
        self.vault_port = 0
        self.hl7_port = 0
        self.unsettled = [ward for ward, _ in WARDS]  # until the first sync: _settle

    # --- starting -------------------------------------------------------------------------

    def start(self) -> None:
        """Every component, each once the one it needs answers."""
        self._check_ports()
        vault_url, writer, reader = self._start_vault()
        self._start_his()
        if self.keys is None:
            self._wait("vault", lambda: listening(self.vault_port), 30)
        self._save_run()
        self._wait("his", self._his_answers, STARTUP_SECONDS)
        self._start("capture", releve(
            "capture", "--vault", vault_url, "--fhir", self.his_url,
            "--signing-key", self.place.signing_key, "--state", self.place.capture,
            "--interval", str(self.capture_interval)), env=writer)
        self._start_hl7(vault_url, writer)
        pair_stations({ward: self.place.station(ward) for ward, _ in WARDS},
                      {ward: f"http://127.0.0.1:{port}" for ward, port in self.web_ports.items()})
        for ward, _ in WARDS:
            station = self.place.station(ward)
            self._start(f"sync-{ward}", releve("station", "sync", "--station", station, "--vault",
                                               vault_url, "--interval", str(self.sync_interval)),
                        env=reader)
            self._start(f"web-{ward}", releve("station", "serve", "--station", station,
                                              "--port", str(self.web_ports[ward])))
        for ward, port in self.web_ports.items():
            self._wait(f"web-{ward}", functools.partial(listening, port), 60)
        self._save_run()
        self._settle()

    def _start_vault(self) -> tuple[str, dict[str, str], dict[str, str]]:
        """(the vault's URL, the writer's environment, the readers'): `releve vault serve`
        and its tokens, or (--s3) the bucket and the S3 users' keys, which reach the
        children by their environment only."""
        if self.keys is not None:
            assert self.settings.s3_url
            return self.settings.s3_url, self.keys.env("capture"), self.keys.env("station")
        self.vault_port = free_port(VAULT_PORT)
        tokens = {"RELEVE_WRITER_TOKEN": self.settings.writer_token,
                  "RELEVE_READER_TOKEN": self.settings.reader_token}
        self._start("vault", releve("vault", "serve", self.place.vault, "--port", str(self.vault_port)),
                    env=tokens)
        return (f"http://127.0.0.1:{self.vault_port}", {"RELEVE_TOKEN": self.settings.writer_token},
                {"RELEVE_TOKEN": self.settings.reader_token})

    def _start_hl7(self, vault_url: str, writer: dict[str, str]) -> None:
        """The HL7 v2 listener, on the FHIR capture's state (one chain), and the feed that
        sends it the other establishment; the feed waits for the listener by itself."""
        self.hl7_port = free_port(HL7_PORT)
        self._start("capture-hl7", releve(
            "capture", "hl7", "--listen", f"127.0.0.1:{self.hl7_port}", "--vault", vault_url,
            "--signing-key", self.place.signing_key, "--state", self.place.capture,
            "--interval", str(self.capture_interval)), env=writer)
        self._start("hl7-feed", [sys.executable, "-m", "releve.demo.his.hl7_feed",
                                 "--port", str(self.hl7_port), "--now", str(self.settings.hl7_now)])

    def _settle(self) -> None:
        """As soon as a station's index knows the hospital, the nurse and the physician
        work in its wards (ward_staff.py) and it has its downtime numbers (peering.py)."""
        self.unsettled = [ward for ward in self.unsettled if not self._settled(ward)]

    def _settled(self, ward: str) -> bool:
        """An index being replaced, or a local database busy, is tried again next second:
        the demo's watch loop must not end on it."""
        station = self.place.station(ward)
        try:
            staff = attach_ward_staff(station, ward)
            return give_ranges(station, ward) and staff
        except (sqlite3.Error, ReleveError, OSError):
            return False

    @property
    def his_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.his_port}"

    def _start_his(self) -> None:
        """Once attacked, the HIS serves its encrypted database without activity: nobody
        can work in it any more; once restored, nobody works in it until the downtime
        is lifted."""
        size = ["--beds", str(self.settings.beds), "--seed", str(self.settings.seed)]
        if self.settings.patients:
            size += ["--patients", str(self.settings.patients)]
        self.his_activity = self.activity and in_use(self.place)
        activity = ["--activity"] if self.his_activity else []
        self._start("his", releve("demo", "his", "--port", str(self.settings.his_port), "--db",
                                  self.place.his_db, *activity, *size))

    def _check_ports(self) -> None:
        wanted = {**self.web_ports, "his": self.settings.his_port}
        busy = [f"{port} ({name})" for name, port in wanted.items() if listening(port)]
        if busy:
            raise DemoError(f"port {', '.join(busy)} already in use on 127.0.0.1: is another "
                            "demo running? Stop it, or give another --port")

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.children.start(name, argv, self.place.log(name), env)

    def _his_answers(self) -> bool:
        try:
            return httpx.get(f"{self.his_url}/metadata", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def _wait(self, name: str, ready: Callable[[], bool], seconds: float) -> None:
        """Until `ready()`, the child ends, Ctrl-C, or `seconds` pass."""
        deadline = time.monotonic() + seconds
        child = next(c for c in self.children.running if c.name == name)
        while not ready():
            if self.stop_requested.is_set():
                raise KeyboardInterrupt
            if child.process.poll() is not None:
                raise DemoError(f"{name} stopped while starting (exit {child.process.returncode}); "
                                f"see {self.place.log(name)}")
            if time.monotonic() > deadline:
                raise DemoError(f"{name} did not answer within {seconds:.0f} s; "
                                f"see {self.place.log(name)}")
            time.sleep(0.2)

    def _save_run(self) -> None:
        self.place.save_run(Run(pid=os.getpid(), his_port=self.settings.his_port,
                                vault_port=self.vault_port, web_ports=self.web_ports,
                                capture_interval=self.capture_interval,
                                processes=self.children.pids(), hl7_port=self.hl7_port))

    # --- running and stopping -------------------------------------------------------------

    def watch(self) -> None:
        """Until Ctrl-C or SIGTERM; a component that stops on its own is said once."""
        while not self.stop_requested.wait(1.0):
            if self.unsettled:
                self._settle()
            if asked(self.place):
                self._restore_his()
            for child in self.children.ended():
                log.error("%s stopped (exit %s); see %s", child.name, child.process.returncode,
                          child.log)

    def _restore_his(self) -> None:
        """What `releve demo restore` asks: the HIS stopped, its backup put back, the HIS
        started again on it and answering; the other components keep running."""
        log.info("restoring the HIS from its backup (releve demo restore)...")

        def stop_his() -> None:
            if not self.children.stop_one("his"):
                log.warning("the HIS was killed after the grace period")

        def start_his() -> None:
            self._start_his()
            self._wait("his", self._his_answers, STARTUP_SECONDS)
            self._save_run()

        failure = carry_out(self.place, stop_his, start_his)
        self.attacked = self.place.attacked()
        if failure:
            log.error("the HIS could not be restored: %s", failure)
        else:
            log.info("the HIS runs again on its restored database")

    def stop(self) -> None:
        killed = self.children.stop()
        self.place.run_file.unlink(missing_ok=True)
        if killed:
            log.warning("killed after the grace period: %s", ", ".join(killed))
        log.info("demo stopped: every component has ended")

    def banner(self) -> None:
        out = self.console
        out.print(f"\n[bold]Relève demo[/] in {escape(str(self.place.root))} "
                  f"(logs in {escape(str(self.place.logs))})", highlight=False)
        attacked = self.attacked or {}
        restored = attacked.get("restored")
        if restored:
            reopened = ("the downtime is lifted: the hospital works in it again" if
                        in_use(self.place) else "its activity resumes at a start once the "
                        "downtime is lifted on every station")
            out.print(f"[bold]the HIS was restored from its last backup ({restored}) after "
                      f"the attack ({attacked.get('time')}):[/] the way back (docs/demo.md); "
                      f"{reopened}. Remove the folder for a new demo.", highlight=False)
        elif self.attacked:
            out.print(f"[bold red]the HIS's database was encrypted by `releve demo attack` "
                      f"({self.attacked.get('time')}):[/] the HIS serves ciphertext, without "
                      "activity; the capture keeps flagging it; the stations serve the last good "
                      "state. Remove the folder for a new demo.", highlight=False)
        activity = ("with activity" if self.his_activity else "restored" if restored
                    else "encrypted" if self.attacked else "idle")
        out.print(f"  HIS (FHIR R4, {activity:<13})   {self.his_url}/", highlight=False)
        out.print(f"  capture                        every {self.capture_interval:g} s into the vault",
                  highlight=False)
        out.print(f"  HL7 v2 feed (MLLP)             127.0.0.1:{self.hl7_port}, another "
                  "establishment, into the same vault", highlight=False)
        if self.keys is None:
            out.print(f"  vault (append-only)            http://127.0.0.1:{self.vault_port}/v1",
                      highlight=False)
        else:
            out.print(f"  vault (S3, Object Lock)        {self.settings.s3_url} at "
                      f"{self.keys.endpoint} (Ceph radosgw; keys in "
                      f"{escape(str(self.place.object_store / 'credentials.json'))})",
                      highlight=False)
        for ward, title in WARDS:
            out.print(f"  {title:<30} http://127.0.0.1:{self.web_ports[ward]}/", highlight=False)
        accounts = ", ".join(f"[bold]{name}[/] ({role})" for name, role, _ in ACCOUNTS)
        out.print(f"  demo accounts, password [bold]{PASSWORD}[/]: {accounts}", highlight=False)
        where = f" --dir {escape(str(self.place.root))}"
        attack = ("" if restored else f", `releve demo restore{where}`" if self.attacked
                  else f", `releve demo attack{where}`")
        out.print(f"next: `releve demo status{where}`{attack}; Ctrl-C stops everything\n",
                  highlight=False)


def run(directory: Path | None, web_port: int, beds: int, patients: int | None,
        capture_interval: float, sync_interval: float, console: Console,
        activity: bool = True, s3: bool = False, s3_port: int | None = None) -> None:
    """`releve demo`: prepare (first time), start everything, run until Ctrl-C/SIGTERM.
    What happens is logged (logs.py); the banner, on `console`, is for the eyes. With
    `s3`, the vault is in a bucket of an object store the demo runs (object_store.py),
    stopped at the end whatever happens."""
    logs.configure()
    place = Place(directory)
    running = place.load_run() if place.is_demo() else None
    if running is not None and alive(running.pid):
        raise DemoError(f"a demo is already running in {place.root} (pid {running.pid}); "
                        "stop it first (Ctrl-C in its terminal)")
    if place.is_demo():  # before anything starts: a demo keeps the vault it was made with
        check_mode(place, place.load_settings(), s3)
    if s3:
        check_installed()
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop_requested.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    store = Store(place, stop_requested, s3_port) if s3 else None
    demo = None
    try:
        if store is not None:
            log.info("starting the object store in %s...", place.object_store)
        settings = prepare(place, beds, patients, store)
        demo = Demo(place, settings, web_port, capture_interval, sync_interval, console, activity,
                    store.keys if store else None, stop_requested)
        first = "" if place.his_db.exists() else " (the first start generates the hospital)"
        log.info("starting the demo in %s%s...", place.root, first)
        demo.start()
        demo.banner()
        demo.watch()
    except KeyboardInterrupt:
        pass
    finally:
        log.info("stopping...")
        if demo is not None:
            demo.stop()
        if store is not None:
            store.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
