"""Issue 11's aims table: each aim, the figure a bench/run.py run measured for it, the goal, met or not.

Kept apart from run.py, which measures, so the table is one place to read against the issue. A figure comes from
the run's medians (rps by scenario and server, p99 by scenario and server); the PostgreSQL ones, when the run did
not measure them (`--postgres` not given), from the `--json` of a bench/postgres.py or bench/webhook.py run given
to run.py instead, and the row says so. An aim whose scenarios ran nowhere is "not measured".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PEER = "node"
WEBHOOK_SERVER = "memo serve"  # bench/webhook.py starts memo serve itself: one row, whatever --servers says
WEBHOOK_RATE = 200.0  # notifications/s, one message each: the aim's load
ISSUE_MEMORIES, ISSUE_CONNECTIONS = 100_000, 32  # the set-up the issue's search aim names

# scenario names, as bench/run.py's Scenario.name spells them
PG_CREATE = "postgres create"
PG_SEARCH = "postgres list search"
PG_SEARCH_NEW = "postgres list search (new query each request)"
PG_WEBHOOK = "postgres webhook"
# their rows in the --json of bench/postgres.py (one worker)
JSON_SEARCH = {PG_SEARCH: "postgresql list search=garden (common)",
               PG_SEARCH_NEW: "postgresql list search=garden -<unique> (each new)"}

Figures = Mapping[tuple[str, str], float]  # (scenario, server) -> median


@dataclass(frozen=True)
class Aim:
    name: str
    server: str
    measured: float | None
    unit: str  # "" (a ratio), "%" or "ms"
    goal: str  # ">= 1.0", "< 10 %", "< 50 ms"
    met: bool | None  # None: not measured
    source: str  # where the figure comes from, and under what set-up
    caveat: str = ""  # the set-up differs from the issue's: the verdict is not the aim's

    @property
    def shown(self) -> str:
        if self.measured is None:
            return "not measured"
        digits = 2 if self.unit == "" else 1
        while digits < 4 and self._rounds_onto_goal(digits):  # 1.499 shown "1.50" beside "not met" misleads
            digits += 1
        text = f"{self.measured:.{digits}f}"
        return f"{text} {self.unit}" if self.unit else text

    def _rounds_onto_goal(self, digits: int) -> bool:
        goal = float(self.goal.split()[1])
        return self.measured is not None and round(self.measured, digits) == goal and self.measured != goal

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "-"
        return ("met" if self.met else "not met") + (f" ({self.caveat})" if self.caveat else "")


def _aim(name: str, server: str, measured: float | None, goal: float, *, above: bool, unit: str = "",
         source: str = "", caveat: str = "") -> Aim:
    shown = f"{'>=' if above else '<'} " + (f"{goal:g} {unit}" if unit else f"{goal:.1f}")
    met = None if measured is None else (measured >= goal if above else measured < goal)
    return Aim(name, server, measured, unit, shown, met, source if measured is not None else "", caveat)


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top and bottom else None


def _share(guarded: float | None, unguarded: float | None) -> float | None:
    """The share of a signed create's time the signature check takes: 1 - rps(create) / rps(create unguarded)."""
    return 100 * (1 - guarded / unguarded) if guarded and unguarded else None


def _set_up(memories: int, connections: int) -> str:
    differs = [f"at {memories:,} memories"] if memories != ISSUE_MEMORIES else []
    differs += [f"at {connections} connections"] if connections != ISSUE_CONNECTIONS else []
    return ", ".join(differs) + ", not the issue's set-up" if differs else ""


def aims(rps: Figures, p99: Figures, servers: list[str], *, rounds: int, memories: int, connections: int,
         postgres: dict[str, Any] | None = None, webhook: dict[str, Any] | None = None) -> list[Aim]:
    """Every aim, per server where the server matters; `postgres` and `webhook` are the JSON of separate runs,
    used only for the aims this run did not measure."""
    rows: list[Aim] = []
    here = f"this run, median of {rounds}"
    pg_json = {r["scenario"]: r for r in (postgres or {}).get("rows", []) if r.get("workers") == 1}
    json_memories = int((postgres or {}).get("memories", 0))
    for server in servers:
        def got(scenario: str, server: str = server) -> float | None:
            return rps.get((scenario, server))

        peer = f"{here}, peer side by side"
        rows += [
            _aim("embedded create / peer create", server, _ratio(got("embedded create"), got("peer create", PEER)),
                 1.0, above=True, source=peer),
            _aim("test create / peer create", server, _ratio(got("test create"), got("peer create", PEER)), 1.5,
                 above=True, source=peer),
            _aim("embedded list / peer list", server, _ratio(got("embedded list"), got("peer list", PEER)), 1.0,
                 above=True, source=peer),
        ]
        rows += [_aim(f"guard share of a signed create, {profile}", server,
                      _share(got(f"{profile} create"), got(f"{profile} create (unguarded)")), 10, above=False,
                      unit="%", source=f"{here}: create vs create (unguarded)") for profile in ("embedded", "test")]
        ratio, source = _ratio(got(PG_CREATE), got("embedded create")), f"{here}, side by side"
        if ratio is None and (postgres or {}).get("redis"):
            ratio = _ratio(pg_json.get("postgresql create", {}).get("rps"),
                           pg_json.get("embedded (sqlite) create", {}).get("rps"))
            source = "bench/postgres.py --redis-url --json, side by side in its run"
        rows.append(_aim("PostgreSQL + Redis create / embedded create", server, ratio, 0.8, above=True,
                         source=source))
        for scenario, label in ((PG_SEARCH, "same query every request"),
                                (PG_SEARCH_NEW, "a new query every request")):
            value, caveat = p99.get((scenario, server)), _set_up(memories, connections)
            source = f"{here}, {memories:,} memories, {connections} connections"
            if value is None and JSON_SEARCH[scenario] in pg_json:
                value, caveat = pg_json[JSON_SEARCH[scenario]]["p99_ms"], _set_up(json_memories, ISSUE_CONNECTIONS)
                source = f"bench/postgres.py --json, {json_memories:,} memories"
            rows.append(_aim(f"PostgreSQL list search=garden ({label}), p99", server, value, 50, above=False,
                             unit="ms", source=source, caveat=caveat))
    value, source, caveat = p99.get((PG_WEBHOOK, WEBHOOK_SERVER)), f"{here}, open loop, bench/webhook.py's driver", ""
    acks = [r for r in (webhook or {}).get("results", []) if r["store"] == "postgres" and r["batch"] == 1]
    if value is None and acks:
        value, source = acks[0]["p99_ms"], "bench/webhook.py --postgres --json"
        rate = acks[0]["offered_nps"]
        caveat = f"at {rate:g} notifications/s, not the issue's set-up" if rate != WEBHOOK_RATE else ""
    rows.append(_aim(f"webhook ack p99 at {WEBHOOK_RATE:g} notifications/s, PostgreSQL", WEBHOOK_SERVER, value, 50,
                     above=False, unit="ms", source=source, caveat=caveat))
    return rows


def aims_table(rows: list[Aim]) -> str:
    out = ["| aim | server | measured | goal | verdict | from |", "|---|---|---:|---|---|---|"]
    out += [f"| {a.name} | {a.server} | {a.shown} | {a.goal} | {a.verdict} | {a.source or '-'} |" for a in rows]
    return "\n".join(out)
