#!/bin/sh
# One-shot set-up of a Beatkeeper RabbitMQ cluster, run once its nodes are up (idempotent:
# safe to run again). The rabbitmq-init service of deploy/compose.cluster.yaml runs it against
# rabbit1; benchmarks/local_cluster.py runs the same script against its local nodes.
#
# - the vhost Beatkeeper lives in (RABBITMQ_VHOST),
# - Beatkeeper's own user (RABBITMQ_USER): permissions on that vhost only, and the
#   "management" tag so it can read its own vhost's queue depths but no other vhost, user,
#   policy or node,
# - no guest account,
# - a policy that spreads quorum queue leaders over the nodes (Beatkeeper declares its queues
#   as quorum queues with x-quorum-initial-group-size, one replica per node).
#
# Environment: RABBITMQ_USER, RABBITMQ_PASSWORD, RABBITMQ_VHOST (required);
# RABBITMQ_SEED_NODE (default rabbit@rabbit1), RABBITMQ_PEER_NODES (empty for one node; default
# "rabbit@rabbit2 rabbit@rabbit3"), RABBITMQ_ERLANG_COOKIE (default: the cookie file),
# RABBITMQCTL (default rabbitmqctl).
set -eu
: "${RABBITMQ_USER:?}" "${RABBITMQ_PASSWORD:?}" "${RABBITMQ_VHOST:?}"
SEED="${RABBITMQ_SEED_NODE:-rabbit@rabbit1}"
PEERS="${RABBITMQ_PEER_NODES-rabbit@rabbit2 rabbit@rabbit3}"
ctl() {
  if [ -n "${RABBITMQ_ERLANG_COOKIE:-}" ]; then
    ${RABBITMQCTL:-rabbitmqctl} --erlang-cookie "$RABBITMQ_ERLANG_COOKIE" -n "$SEED" "$@"
  else
    ${RABBITMQCTL:-rabbitmqctl} -n "$SEED" "$@"
  fi
}

ctl await_startup
for node in $PEERS; do
  tries=0
  until ctl cluster_status --formatter json | grep -q "\"running_nodes\":\[[^]]*\"$node\""; do
    tries=$((tries + 1))
    [ "$tries" -lt 90 ] || { echo "rabbitmq-init: $node never joined $SEED" >&2; exit 1; }
    sleep 2
  done
done
ctl add_vhost "$RABBITMQ_VHOST" >/dev/null 2>&1 || true
if ctl list_users --formatter json | grep -q "\"user\":\"$RABBITMQ_USER\""; then
  ctl change_password "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null
else
  ctl add_user "$RABBITMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null
fi
ctl set_user_tags "$RABBITMQ_USER" management >/dev/null
ctl set_permissions -p "$RABBITMQ_VHOST" "$RABBITMQ_USER" ".*" ".*" ".*" >/dev/null
ctl delete_user guest >/dev/null 2>&1 || true
ctl set_policy -p "$RABBITMQ_VHOST" --apply-to queues balanced-leaders ".*" \
  '{"queue-leader-locator": "balanced"}' >/dev/null
echo "rabbitmq-init: vhost $RABBITMQ_VHOST, user $RABBITMQ_USER (this vhost only), no guest"
