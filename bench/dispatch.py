"""`make bench` (dispatch part): plan quality and speed of VROOM on gen-data-like orders in one city.

Scenarios: 200 orders / 15 couriers (target: planned within 3 s) and 1,000 orders / 50 couriers (target:
within DISPATCH_MAX_SECONDS, the best plan found by then). Each plan is checked stop by stop (capacity, windows,
shift ends) and its total travel time compared with a nearest-neighbour baseline on the same matrix (target:
at least 10% less). Prints every figure with pass/miss; exits 1 on a miss.
"""

import random
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from courier import routing, solver  # noqa: E402
from courier.config import from_env  # noqa: E402
from tools import gendata  # noqa: E402

START = datetime(2030, 1, 15, 8, 0)
SHIFT = (0, 10 * 3600)  # 08:00-18:00


def problem(n_orders, n_couriers, seed=15):
    """Orders and couriers placed as gen-data places them (gendata.city_point), a third with 3-hour windows."""
    rng = random.Random(seed)
    p = solver.Problem(START)
    for c in range(n_couriers):
        depot = p.point(gendata.city_point(c, "depot"))
        capacity = (gendata.courier_capacity_kg(c) * 1000, gendata.courier_capacity_parcels(c))
        p.vehicles.append(solver.Vehicle(c + 1, depot, depot, SHIFT, capacity))
    for n in range(n_orders):
        window = None
        if n % 3 == 0:
            opens = rng.randrange(0, 6) * 3600
            window = (opens, opens + 3 * 3600)
        pickup, delivery = (
            p.point(gendata.city_point(n, "pickup")),
            p.point(gendata.city_point(n, "delivery")),
        )
        p.tasks.append(
            solver.Task(n + 1, pickup, delivery, (solver.grams(gendata.order_weight_kg(n)), 1), window)
        )
    return p


def check(p, result, durations, service):
    """Violations of capacity, windows, precedence and shift ends over every route: a list of strings."""
    tasks = {t.order_id: t for t in p.tasks}
    vehicles = {v.courier_id: v for v in p.vehicles}
    problems = []
    for route in result["routes"]:
        v = vehicles[route["courier_id"]]
        load, picked = [0, 0], set()
        for stop in route["stops"]:
            task = tasks[stop["order_id"]]
            if stop["type"] == "pickup":
                load = [load[0] + task.amount[0], load[1] + task.amount[1]]
                picked.add(task.order_id)
                if load[0] > v.capacity[0] or load[1] > v.capacity[1]:
                    problems.append(f"courier {v.courier_id} over capacity at order {task.order_id}")
            else:
                if task.order_id not in picked:
                    problems.append(f"order {task.order_id} delivered before pickup")
                load = [load[0] - task.amount[0], load[1] - task.amount[1]]
                if task.window and not task.window[0] <= stop["eta_s"] <= task.window[1]:
                    problems.append(f"order {task.order_id} outside its window")
        if route["end_s"] is not None and route["end_s"] > v.shift[1]:
            problems.append(f"courier {v.courier_id} back after shift end")
    return problems


def nearest_neighbour(p, durations, service):
    """Baseline: each courier in turn goes to the nearest stop it may serve next (pickup with room, or a
    delivery on board) while it can still get back by the shift end. Windows: only a pickup whose delivery
    could still be on time is taken. Returns (total travel seconds, orders served)."""
    left = {t.order_id: t for t in p.tasks}
    total, served = 0, 0
    for v in p.vehicles:
        t, here, load, onboard = v.shift[0], v.start, [0, 0], []
        while True:
            best = None
            for task in onboard:
                d = int(durations[here][task.delivery])
                arrive = max(t + d, task.window[0] if task.window else 0)
                if arrive + service + int(durations[task.delivery][v.end]) <= v.shift[1]:
                    if best is None or d < best[0]:
                        best = (d, "delivery", task, arrive)
            for task in left.values():
                if load[0] + task.amount[0] > v.capacity[0] or load[1] + task.amount[1] > v.capacity[1]:
                    continue
                d = int(durations[here][task.pickup])
                if best is not None and d >= best[0]:
                    continue
                at_delivery = t + d + service + int(durations[task.pickup][task.delivery])
                if task.window and at_delivery > task.window[1]:
                    continue
                if (
                    max(at_delivery, task.window[0] if task.window else 0)
                    + service
                    + int(durations[task.delivery][v.end])
                    > v.shift[1]
                ):
                    continue
                best = (d, "pickup", task, t + d)
            if best is None:
                break
            d, kind, task, arrive = best
            total += d
            t = arrive + service
            if kind == "pickup":
                del left[task.order_id]
                onboard.append(task)
                here = task.pickup
                load = [load[0] + task.amount[0], load[1] + task.amount[1]]
            else:
                onboard.remove(task)
                here = task.delivery
                load = [load[0] - task.amount[0], load[1] - task.amount[1]]
                served += 1
        total += int(durations[here][v.end])
    return total, served


def scenario(name, n_orders, n_couriers, limit_s, config):
    p = problem(n_orders, n_couriers)
    durations, distances = routing.straight_line_matrix(
        p.points, config["ROUTING_SPEED_KMH"], config["ROUTING_DETOUR_FACTOR"]
    )
    started, cpu_started = time.monotonic(), time.process_time()
    result = solver.solve(p, config, durations, distances)
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu_started
    service = int(config["DISPATCH_SERVICE_SECONDS"])
    violations = check(p, result, durations, service)
    vroom_total = sum(route["duration_s"] for route in result["routes"])
    served = n_orders - len(result["unassigned"])
    nn_total, nn_served = nearest_neighbour(p, durations, service)
    # Compared per order served: the baseline leaves orders out (which shortens its total), VROOM routes more.
    per_order, nn_per_order = vroom_total / max(served, 1), nn_total / max(nn_served, 1)
    saving = 1 - per_order / nn_per_order if nn_total else 0
    lines = [
        f"{name}: planned in {seconds:.2f} s, {cpu:.2f} s of CPU on {config['DISPATCH_THREADS']} threads"
        f" (target {limit_s:g} s) {'pass' if seconds <= limit_s else 'miss'}",
        f"  VROOM: {served}/{n_orders} orders routed, total travel {vroom_total / 3600:.1f} h"
        f" ({per_order:.0f} s per order), {len(violations)} constraint violations {'pass' if not violations else 'miss'}",
        f"  nearest neighbour: {nn_served}/{n_orders} orders, total travel {nn_total / 3600:.1f} h"
        f" ({nn_per_order:.0f} s per order)",
        f"  VROOM travel per order {saving:.0%} below nearest neighbour (target >= 10%)"
        f" {'pass' if saving >= 0.10 and served >= nn_served else 'miss'}",
    ]
    ok = seconds <= limit_s and not violations and saving >= 0.10 and served >= nn_served
    return lines, ok


def main():
    config = from_env()
    results = [
        scenario("200 orders, 15 couriers", 200, 15, 3.0, {**config, "DISPATCH_MAX_SECONDS": 2.5}),
        scenario(
            "1000 orders, 50 couriers",
            1000,
            50,
            config["DISPATCH_MAX_SECONDS"],
            config,
        ),
    ]
    for lines, _ in results:
        print("\n".join(lines))
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
