"""The words of the domain, defined once: roles, order and issue statuses, who may move an order from
which status to which, failure reasons, notification channels, event types and how they read in messages.

Everything else imports these; nothing here imports anything of the project.
"""

# Roles (also the account types, in the order lists show them).
ADMIN, CUSTOMER, COURIER = "admin", "customer", "delivery_person"
ROLES = (ADMIN, CUSTOMER, COURIER)
USER_TYPES = [CUSTOMER, COURIER, ADMIN]

# Order statuses, in lifecycle order.
STATUSES = [
    "Pending",
    "Assigned",
    "Picked Up",
    "In Transit",
    "Out for Delivery",
    "Delivered",
    "Failed Attempt",
    "Returned",
    "Cancelled",
]
FINAL = ("Delivered", "Returned", "Cancelled")

# (from, to) -> the roles that may make that move. An admin may cancel any order that is not final.
TRANSITIONS = {
    ("Pending", "Assigned"): {ADMIN},
    ("Assigned", "Assigned"): {ADMIN},  # reassignment, with "reassign": true
    ("Pending", "Cancelled"): {CUSTOMER, ADMIN},
    ("Assigned", "Cancelled"): {CUSTOMER, ADMIN},
    ("Assigned", "Picked Up"): {COURIER},
    ("Picked Up", "In Transit"): {COURIER},
    ("Picked Up", "Out for Delivery"): {COURIER},
    ("In Transit", "Out for Delivery"): {COURIER},
    ("Out for Delivery", "Delivered"): {COURIER, ADMIN},  # the admin: proof.admin_override, with a reason
    ("Out for Delivery", "Failed Attempt"): {COURIER},
    ("Failed Attempt", "Out for Delivery"): {COURIER},
    ("Failed Attempt", "Returned"): {COURIER, ADMIN},
    ("Picked Up", "Cancelled"): {ADMIN},
    ("In Transit", "Cancelled"): {ADMIN},
    ("Out for Delivery", "Cancelled"): {ADMIN},
    ("Failed Attempt", "Cancelled"): {ADMIN},
}


def allowed_next(status, role):
    """The statuses `role` may move an order in `status` to, in lifecycle order."""
    targets = {to for (frm, to), roles in TRANSITIONS.items() if frm == status and role in roles}
    return [s for s in STATUSES if s in targets]


# Why a delivery failed (required with Failed Attempt), and how a message to the customer puts it.
REASON_WORDS = {
    "recipient_unavailable": "Nobody was available to receive the parcel.",
    "address_not_found": "The courier could not find the delivery address.",
    "refused": "The parcel was refused at the door.",
    "damaged": "The parcel was damaged.",
    "other": "The courier could not complete the delivery.",
}
FAILURE_REASONS = list(REASON_WORDS)

ISSUE_STATUSES = ["Open", "In Progress", "Resolved", "Closed"]
OPEN_ISSUES = ("Open", "In Progress")

# Notifications: their states and channels.
NOTIFICATION_STATUSES = ["pending", "sending", "sent", "failed"]
CHANNELS = ["email", "sms", "webhook"]

# Event types (what webhooks subscribe to); the customer gets email/SMS for CUSTOMER_EVENTS only.
EVENT_TYPES = [
    "order.created",
    "order.assigned",
    "order.picked_up",
    "order.in_transit",
    "order.out_for_delivery",
    "order.delivered",
    "order.failed_attempt",
    "order.returned",
    "order.cancelled",
    "order.delivery_locked",
    "order.arrived",
    "order.arriving_soon",
    "order.late_risk",
    "issue.answered",
]
STATUS_EVENTS = {
    "Picked Up": "order.picked_up",
    "In Transit": "order.in_transit",
    "Out for Delivery": "order.out_for_delivery",
    "Delivered": "order.delivered",
    "Failed Attempt": "order.failed_attempt",
    "Returned": "order.returned",
    "Cancelled": "order.cancelled",
}
# Event type -> (the headline of a message to the customer, the status shown)
ORDER_WORDS = {
    "order.assigned": ("Your parcel has been assigned to a courier", "Assigned"),
    "order.picked_up": ("Your parcel has been picked up", "Picked Up"),
    "order.in_transit": ("Your parcel is in transit", "In Transit"),
    "order.out_for_delivery": ("Your parcel is out for delivery", "Out for Delivery"),
    "order.arriving_soon": ("Your courier is nearly there", "Out for Delivery"),
    "order.delivered": ("Your parcel has been delivered", "Delivered"),
    "order.failed_attempt": ("We could not deliver your parcel", "Failed Attempt"),
    "order.returned": ("Your parcel has been returned to the sender", "Returned"),
    "order.cancelled": ("Your order has been cancelled", "Cancelled"),
}
CUSTOMER_EVENTS = frozenset(ORDER_WORDS) - {"order.in_transit"}

# The same in an SMS: "Parcel <number> <phrase>"
ORDER_PHRASES = {
    "order.assigned": "has been assigned to a courier",
    "order.picked_up": "has been picked up",
    "order.in_transit": "is in transit",
    "order.out_for_delivery": "is out for delivery",
    "order.arriving_soon": "is nearly there: the courier is a few stops away",
    "order.delivered": "has been delivered",
    "order.failed_attempt": "could not be delivered",
    "order.returned": "has been returned to the sender",
    "order.cancelled": "has been cancelled",
}
REASON_PHRASES = {
    "recipient_unavailable": "nobody was available",
    "address_not_found": "address not found",
    "refused": "refused at the door",
    "damaged": "parcel damaged",
    "other": "other reason",
}
