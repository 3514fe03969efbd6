#!/bin/sh
# event handler for both impls: $1 = file to append "<node> <wall-ns> <event-name>" to (user events only)
if [ "$SWIM_EVENT" = user ] || [ "$SERF_EVENT" = user ]; then
  echo "${SWIM_SELF_NAME}${SERF_SELF_NAME} $(date +%s%N) ${SWIM_USER_EVENT}${SERF_USER_EVENT}" >> "$1"
fi
cat > /dev/null
