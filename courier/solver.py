"""The routing problem and its solution with VROOM (pyvroom), free of the database so the benchmark can use it.

Times inside a problem are whole seconds after its start_at; amounts are [grams, parcels].
"""

import time as clock
from dataclasses import dataclass, field
from datetime import timedelta

import vroom

from . import routing


@dataclass
class Vehicle:
    courier_id: int
    start: int  # point index
    end: int  # point index
    shift: tuple  # (from, to) seconds
    capacity: tuple  # (grams, parcels)


@dataclass
class Task:
    """One order: a pickup-and-delivery pair, or (already picked up) a delivery only."""

    order_id: int
    pickup: int | None  # point index; None once picked up
    delivery: int
    amount: tuple  # (grams, parcels)
    window: tuple | None = None  # (from, to) seconds for the delivery
    courier_id: int | None = None  # only this courier may carry it (already assigned)


@dataclass
class Problem:
    start_at: object  # naive UTC datetime of second 0
    points: list = field(default_factory=list)  # (lat, lng)
    vehicles: list = field(default_factory=list)
    tasks: list = field(default_factory=list)

    def point(self, lat_lng):
        self.points.append((float(lat_lng[0]), float(lat_lng[1])))
        return len(self.points) - 1


def grams(weight_kg):
    return int(round(float(weight_kg or 0) * 1000))


# VROOM's timeout bounds its local search, not the construction heuristics that run first (several per
# exploration level, each growing faster than linearly): past this many orders a plan uses level 0.
LARGE_PROBLEM_TASKS = 400


def exploration_level(tasks, config):
    level = int(config["DISPATCH_EXPLORATION_LEVEL"])
    return 0 if tasks > LARGE_PROBLEM_TASKS else level


def solve(problem, config, durations=None, distances=None):
    """Solve with VROOM: {"routes": [...], "unassigned": [order_id...], "solver_ms", "routing"}.

    Each route: {"courier_id", "distance_m", "duration_s", "end_s", "stops": [{"order_id", "type", "point",
    "arrival_s", "eta_s"}]} where eta_s is when service begins (after any wait for the window).
    """
    source = "given"
    if durations is None:
        durations, distances, source = routing.matrix(problem.points, config)
    result = {"routes": [], "unassigned": [], "solver_ms": 0, "routing": source}
    if not problem.tasks:
        return result
    if not problem.vehicles:
        result["unassigned"] = [task.order_id for task in problem.tasks]
        return result
    service = int(config["DISPATCH_SERVICE_SECONDS"])
    data = vroom.Input()
    data.set_durations_matrix("car", durations)
    data.set_distances_matrix("car", distances)
    for number, vehicle in enumerate(problem.vehicles, 1):
        data.add_vehicle(
            vroom.Vehicle(
                number,
                start=vehicle.start,
                end=vehicle.end,
                capacity=vroom.Amount(list(vehicle.capacity)),
                skills={vehicle.courier_id},
                time_window=vroom.TimeWindow(*vehicle.shift),
            )
        )
    ids = {}
    for k, task in enumerate(problem.tasks):
        skills = {task.courier_id} if task.courier_id is not None else set()
        windows = [vroom.TimeWindow(*task.window)] if task.window else []
        priority = 100 if task.courier_id is not None else 0
        delivery_id = 2 * k + 2
        ids[delivery_id] = (k, "delivery")
        if task.pickup is None:
            data.add_job(
                vroom.Job(
                    delivery_id,
                    location=task.delivery,
                    default_service=service,
                    delivery=vroom.Amount(list(task.amount)),
                    skills=skills,
                    priority=priority,
                    time_windows=windows,
                )
            )
            continue
        ids[2 * k + 1] = (k, "pickup")
        data.add_shipment(
            vroom.ShipmentStep(2 * k + 1, location=task.pickup, default_service=service),
            vroom.ShipmentStep(
                delivery_id, location=task.delivery, default_service=service, time_windows=windows
            ),
            amount=vroom.Amount(list(task.amount)),
            skills=skills,
            priority=priority,
        )
    started = clock.monotonic()
    solution = data.solve(
        exploration_level=exploration_level(len(problem.tasks), config),
        nb_threads=max(1, int(config["DISPATCH_THREADS"])),
        # Search for 90% of the budget: loading, the construction phase and reading the answer take the rest.
        timeout=timedelta(seconds=0.9 * float(config["DISPATCH_MAX_SECONDS"])),
    )
    result["solver_ms"] = int((clock.monotonic() - started) * 1000)
    answer = solution.to_dict()
    assigned = set()
    for route in answer.get("routes", []):
        vehicle = problem.vehicles[route["vehicle"] - 1]
        stops, end_s = [], None
        for step in route["steps"]:
            if step["type"] == "end":
                end_s = step["arrival"]
                continue
            if step["type"] not in ("pickup", "delivery", "job"):
                continue
            k, kind = ids[step["id"]]
            task = problem.tasks[k]
            assigned.add(k)
            stops.append(
                {
                    "order_id": task.order_id,
                    "type": kind,
                    "point": task.pickup if kind == "pickup" else task.delivery,
                    "arrival_s": step["arrival"],
                    "eta_s": step["arrival"] + step.get("waiting_time", 0),
                }
            )
        result["routes"].append(
            {
                "courier_id": vehicle.courier_id,
                "distance_m": route.get("distance", 0),
                "duration_s": route["duration"],
                "end_s": end_s,
                "stops": stops,
            }
        )
    result["unassigned"] = [task.order_id for k, task in enumerate(problem.tasks) if k not in assigned]
    return result
