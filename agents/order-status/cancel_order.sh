#!/bin/sh
# Example tool for the order-status agent: reads {"order_id": "..."} on stdin and pretends
# to cancel the order (nothing is stored), printing the outcome as JSON.
input=$(cat | tr -d '\n\r')
id=$(printf '%s' "$input" | sed -n 's/.*"order_id"[[:space:]]*:[[:space:]]*"\{0,1\}\([A-Za-z0-9_-]*\).*/\1/p')
id=$(printf '%s' "$id" | tr '[:lower:]' '[:upper:]')
case "$id" in
  A1001 | A1003) printf '{"order_id": "%s", "cancelled": false, "reason": "already shipped"}\n' "$id" ;;
  A1002) echo '{"order_id": "A1002", "cancelled": true, "refund": "within 5 days"}' ;;
  A1004) echo '{"order_id": "A1004", "cancelled": false, "reason": "already cancelled"}' ;;
  "") echo '{"error": "missing order_id"}' ;;
  *) printf '{"error": "no order with id %s"}\n' "$id" ;;
esac
