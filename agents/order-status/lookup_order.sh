#!/bin/sh
# Example tool for the order-status agent: reads {"order_id": "..."} on stdin and prints the
# order's status as JSON (a few fixed orders; an error object for any other id).
input=$(cat | tr -d '\n\r')
id=$(printf '%s' "$input" | sed -n 's/.*"order_id"[[:space:]]*:[[:space:]]*"\{0,1\}\([A-Za-z0-9_-]*\).*/\1/p')
id=$(printf '%s' "$id" | tr '[:lower:]' '[:upper:]')
case "$id" in
  A1001) echo '{"order_id": "A1001", "status": "shipped", "carrier": "DHL", "eta": "2 days"}' ;;
  A1002) echo '{"order_id": "A1002", "status": "processing", "eta": "ships tomorrow"}' ;;
  A1003) echo '{"order_id": "A1003", "status": "delivered", "delivered_on": "last Monday"}' ;;
  A1004) echo '{"order_id": "A1004", "status": "cancelled", "refund": "issued"}' ;;
  A1005) echo '{"order_id": "A1005", "status": "held", "contact": "ops.desk@example.com"}' ;;
  "") echo '{"error": "missing order_id"}' ;;
  *) printf '{"error": "no order with id %s"}\n' "$id" ;;
esac
