#!/usr/bin/env bash
# A throw-away single-node Apache Kafka broker (KRaft, combined broker +
# controller) for trying the Kafka Streams peer by hand, built from the
# kafka_2.13 jars that Maven resolves. Listens on 127.0.0.1 only.
#
#   benches/peers/kafka-streams/local-broker.sh start   # prints the bootstrap address
#   benches/peers/kafka-streams/local-broker.sh stop    # stops it and deletes its data
#
# Environment: KS_BROKER_DIR (default /tmp/ccpulse-peer-streams-broker),
# KS_BROKER_PORT (default 39092; the controller uses the next port),
# KAFKA_VERSION (default 4.1.1), KS_BROKER_HEAP (default 1g).
set -euo pipefail

dir=${KS_BROKER_DIR:-/tmp/ccpulse-peer-streams-broker}
port=${KS_BROKER_PORT:-39092}
cport=$((port + 1))
version=${KAFKA_VERSION:-4.1.1}
heap=${KS_BROKER_HEAP:-1g}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

case "${1:-}" in
start)
    if [[ -f "$dir/broker.pid" ]] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
        echo "127.0.0.1:$port"
        exit 0
    fi
    mkdir -p "$dir"
    if [[ ! -d "$dir/libs" ]]; then
        cat > "$dir/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>
  </dependencies>
</project>
POM
        mvn -q -B -f "$dir/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$dir/libs" >&2
    fi
    cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
# Test data may carry event times far in the past.
log.retention.ms=-1
PROPS
    cp="$dir/libs/*"
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        id=$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
        java -cp "$cp" kafka.tools.StorageTool format -t "$id" -c "$dir/server.properties" 2>/dev/null >&2
    fi
    nohup java "-Xms$heap" "-Xmx$heap" -cp "$cp" kafka.Kafka "$dir/server.properties" \
        > "$dir/broker.log" 2>&1 &
    echo $! > "$dir/broker.pid"
    for _ in $(seq 1 120); do
        if listening; then
            echo "127.0.0.1:$port"
            exit 0
        fi
        sleep 0.5
    done
    echo "broker did not start listening on 127.0.0.1:$port; see $dir/broker.log" >&2
    exit 1
    ;;
stop)
    if [[ -f "$dir/broker.pid" ]]; then
        pid=$(cat "$dir/broker.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        rm -f "$dir/broker.pid"
    fi
    rm -rf "$dir/data"
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
