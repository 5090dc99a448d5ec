#!/bin/sh
# One-shot setup for docker-compose: install the inference-log index template into Elasticsearch and
# import turnpoint's Kibana saved objects (data view, visualisations, dashboard). Idempotent.
#
# Needs: sh + curl (e.g. the curlimages/curl image). Mount this folder at /setup and the logstash
# templates folder at /templates, or set the paths below.
#   ELASTICSEARCH_URL   default http://elasticsearch:9200
#   KIBANA_URL          default http://kibana:5601
#   ELASTICSEARCH_USERNAME / ELASTICSEARCH_PASSWORD   optional basic auth (security enabled)
#   TEMPLATE_FILE       default /templates/turnpoint-inference.json
#   SAVED_OBJECTS_FILE  default /setup/saved_objects.ndjson
#   WAIT_SECONDS        default 300
set -eu

ES="${ELASTICSEARCH_URL:-http://elasticsearch:9200}"
KIBANA="${KIBANA_URL:-http://kibana:5601}"
TEMPLATE_FILE="${TEMPLATE_FILE:-/templates/turnpoint-inference.json}"
SAVED_OBJECTS_FILE="${SAVED_OBJECTS_FILE:-/setup/saved_objects.ndjson}"
WAIT_SECONDS="${WAIT_SECONDS:-300}"

AUTH=""
if [ -n "${ELASTICSEARCH_PASSWORD:-}" ]; then
  AUTH="-u ${ELASTICSEARCH_USERNAME:-elastic}:${ELASTICSEARCH_PASSWORD}"
fi

wait_for() {  # name url expected-substring
  waited=0
  until curl -fsS $AUTH "$2" 2>/dev/null | grep -q "$3"; do
    if [ "$waited" -ge "$WAIT_SECONDS" ]; then
      echo "setup: $1 at $2 not ready after ${WAIT_SECONDS}s; is it running?" >&2
      exit 1
    fi
    sleep 3
    waited=$((waited + 3))
  done
  echo "setup: $1 is up"
}

for f in "$TEMPLATE_FILE" "$SAVED_OBJECTS_FILE"; do
  [ -r "$f" ] || { echo "setup: cannot read $f; mount it or set its variable" >&2; exit 1; }
done

wait_for Elasticsearch "$ES/_cluster/health" '"status"'
curl -fsS $AUTH -X PUT "$ES/_index_template/turnpoint-inference" \
  -H 'Content-Type: application/json' --data-binary "@$TEMPLATE_FILE" >/dev/null
echo "setup: index template turnpoint-inference installed"

wait_for Kibana "$KIBANA/api/status" '"level":"available"'
result=$(curl -fsS $AUTH -X POST "$KIBANA/api/saved_objects/_import?overwrite=true" \
  -H 'kbn-xsrf: turnpoint' --form "file=@$SAVED_OBJECTS_FILE")
echo "$result" | grep -q '"success":true' || { echo "setup: Kibana import failed: $result" >&2; exit 1; }
echo "setup: Kibana saved objects imported (dashboard 'turnpoint: model observability')"
