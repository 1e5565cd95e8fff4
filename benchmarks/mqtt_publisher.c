/* A compiled MQTT load generator for benchmarks/ingest_bench.py (--publisher c).

   The Python publisher (paho-mqtt, pure Python, waiting for PUBACKs) peaks at about 5,500
   QoS 1 messages/s on the 2-core benchmark host, below the 10,000 measurements/s the MQTT
   path is meant to reach, so it measured itself. This one publishes the same messages
   (the same topics in turn, the same UltraLight bodies) through libmosquitto (Debian:
   libmosquitto-dev) with its network loop in its own thread, up to 1,000 messages in
   flight, and returns once the broker has acknowledged every one.

   usage: mqtt_publisher COUNT PER_MESSAGE PORT TOPIC...
   prints "STARTED FINISHED": CLOCK_MONOTONIC seconds (Python's time.perf_counter on Linux)
   of the first publish and of the last PUBACK. */

#include <mosquitto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;
static long acked = 0;
static double finished = 0;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_publish(struct mosquitto *mosq, void *count, int mid) {
    (void)mosq;
    (void)mid;
    pthread_mutex_lock(&lock);
    if (++acked == *(long *)count) {
        finished = now();
        pthread_cond_signal(&done);
    }
    pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s COUNT PER_MESSAGE PORT TOPIC...\n", argv[0]);
        return 2;
    }
    long count = atol(argv[1]);
    int per_message = atoi(argv[2]);
    int port = atoi(argv[3]);
    char **topics = argv + 4;
    int ntopics = argc - 4;
    mosquitto_lib_init();
    struct mosquitto *mosq = mosquitto_new(NULL, 1, &count);
    if (mosq == NULL) {
        perror("mosquitto_new");
        return 1;
    }
    mosquitto_publish_callback_set(mosq, on_publish);
    mosquitto_max_inflight_messages_set(mosq, 1000);
    int rc = mosquitto_connect(mosq, "127.0.0.1", port, 60);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "connect: %s\n", mosquitto_strerror(rc));
        return 1;
    }
    mosquitto_loop_start(mosq);
    char body[4096];
    double started = now();
    for (long n = 0; n < count; n++) {
        size_t used = 0;
        for (int k = 0; k < per_message && used + 32 < sizeof body; k++) {
            used += (size_t)snprintf(body + used, sizeof body - used, "%spm25|%ld",
                                     k ? "#" : "", (n + k) % 500);
        }
        rc = mosquitto_publish(mosq, NULL, topics[n % ntopics], (int)used, body, 1, 0);
        if (rc != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "publish %ld: %s\n", n, mosquitto_strerror(rc));
            return 1;
        }
    }
    struct timespec limit;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 300;
    pthread_mutex_lock(&lock);
    while (acked < count) {
        if (pthread_cond_timedwait(&done, &lock, &limit) != 0) {
            fprintf(stderr, "only %ld of %ld PUBACKs within 300 s\n", acked, count);
            return 1;
        }
    }
    pthread_mutex_unlock(&lock);
    printf("%.9f %.9f\n", started, finished);
    mosquitto_disconnect(mosq);
    mosquitto_loop_stop(mosq, 0);
    mosquitto_destroy(mosq);
    mosquitto_lib_cleanup();
    return 0;
}
