#!/bin/sh
# query handler for both impls: answers with the node's name
cat > /dev/null
echo "${SWIM_SELF_NAME}${SERF_SELF_NAME}"
