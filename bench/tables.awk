# Turns the RESULT lines of mqtt_bench and gw_bench into the markdown tables
# of bench/README.md, and checks the goals of issue 8 (reported, never fatal:
# a shared machine is too noisy for a threshold to gate anything).
function mib(kib) { return kib < 0 ? "-" : sprintf("%.1f", kib / 1024) }
function ratio(a, b) { return (b > 0) ? sprintf("%.2f", a / b) : "-" }
function goal(ok, text) { printf("- [%s] %s\n", ok ? "x" : " ", text) }
# B3 is one more process that does nothing but pass bytes on: what it adds
# over B0 in the case `where` ("QoS q @rate") is what any relay pays for its hop.
function floor_line(where, field,   wq, b3) {
  if (where == "") return
  split(where, wq, /[ @]+/)
  b3 = get("lat", "B3", wq[2], wq[3], field)
  if (b3 != "") printf("  - the floor of one extra process there (B3 over B0): %d µs\n", b3 - get("lat", "B0", wq[2], wq[3], field))
}
/^RESULT / {
  n++
  delete kv
  for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
  for (k in kv) row[n, k] = kv[k]
  key = kv["kind"] "|" kv["label"] "|" kv["qos"] "|" kv["rate"]
  idx[key] = n
}
function get(kind, label, qos, rate, field,   i) {
  i = idx[kind "|" label "|" qos "|" rate]
  return i ? row[i, field] : ""
}
END {
  print "\n## Forward throughput (100-byte payloads, full speed)\n"
  print "| case | QoS | sent | received | msg/s | vs B1 | relay CPU s/100k | broker CPU s/100k | relay peak RSS MiB |"
  print "|---|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++) if (row[i, "kind"] == "tput") {
    b1 = get("tput", "B1", row[i, "qos"], 0, "msgs")
    printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row[i, "label"], row[i, "qos"], row[i, "sent"],
           row[i, "recv"], row[i, "msgs"], ratio(row[i, "msgs"], b1), row[i, "relay_cpu"], row[i, "broker_cpu"],
           row[i, "label"] == "B0" ? "-" : mib(row[i, "relay_hwm_kib"]))
  }
  print "\nB1's relay CPU is both brokers together; G's is the gateway alone (its mosquitto is in the broker column)."
  print "\n## Forward latency (publish -> arrival; paced)\n"
  print "| case | QoS | msg/s | n | p50 µs | p99 µs | max µs | p50 over B0 | p99 over B0 | max over B0 |"
  print "|---|---|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++) if (row[i, "kind"] == "lat") {
    q = row[i, "qos"]; r = row[i, "rate"]
    b50 = get("lat", "B0", q, r, "p50"); b99 = get("lat", "B0", q, r, "p99"); bmax = get("lat", "B0", q, r, "max")
    printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", row[i, "label"], q, r, row[i, "n"], row[i, "p50"],
           row[i, "p99"], row[i, "max"], row[i, "p50"] - b50, row[i, "p99"] - b99, row[i, "max"] - bmax)
  }
  print "\n## Reverse path (devserver -> gateway -> mosquitto -> local subscriber)\n"
  print "| path | QoS | msg/s | received/sent | p50 µs | p99 µs | max µs | gateway CPU s/100k |"
  print "|---|---|---|---|---|---|---|---|"
  for (i = 1; i <= n; i++) if (row[i, "kind"] == "rev") {
    printf("| %s | %s | %s | %s/%s | %s | %s | %s | %s |\n", row[i, "label"] == "G-run" ? "RUN with input" : "subscribe stream",
           row[i, "qos"], row[i, "rate"], row[i, "recv"], row[i, "sent"], row[i, "p50"], row[i, "p99"], row[i, "max"], row[i, "relay_cpu"])
  }
  print "\n## Topic scaling (G, one publish stream per topic, load spread over all)\n"
  print "| topics | msg/s | vs fewest | spawn -> all forwarding s | spawn -> all streams open s | idle RSS MiB | peak RSS MiB | gateway CPU s/100k |"
  print "|---|---|---|---|---|---|---|---|"
  base = ""; base_rss = ""
  for (i = 1; i <= n; i++) if (row[i, "kind"] == "scale") {
    t = row[i, "label"]
    for (j = 1; j <= n; j++) if (row[j, "kind"] == "scale-setup" && row[j, "label"] == t) s = j
    if (base == "") { base = row[i, "msgs"]; base_rss = row[s, "idle_rss_kib"] }
    last_ratio = row[i, "msgs"] / (base > 0 ? base : 1); last_ready = row[s, "ready_s"]; last_rss = row[s, "idle_rss_kib"]
    printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", t, row[i, "msgs"], ratio(row[i, "msgs"], base), row[s, "ready_s"],
           row[s, "streams_open_s"], mib(row[s, "idle_rss_kib"]), mib(row[i, "relay_hwm_kib"]), row[i, "relay_cpu"])
  }
  idle = get("idle", "G", 0, 0, "relay_rss_kib"); after = get("idle", "G-after", 0, 0, "relay_rss_kib")
  wire = ""
  for (i = 1; i <= n; i++) if (row[i, "kind"] == "wire") wire = row[i, "bytes_per_sample"]
  print "\n## Memory and wire\n"
  printf("- gateway RSS idle (connected, 5 streams + 2 resources): %s MiB; after all forward/reverse runs: %s MiB, peak %s MiB\n",
         mib(idle), mib(after), mib(get("idle", "G-after", 0, 0, "relay_hwm_kib")))
  printf("- bytes on the wire per forwarded 4-byte sample (devserver's count): %s\n", wire)

  print "\n## Goals (issue 8)\n"
  for (q = 0; q <= 1; q++) {
    g = get("tput", "G", q, 0, "msgs"); b = get("tput", "B1", q, 0, "msgs")
    goal(g >= b, sprintf("QoS %d throughput G >= B1: %s vs %s msg/s (x%s)", q, g, b, ratio(g, b)))
    g = get("tput", "G", q, 0, "relay_cpu"); b = get("tput", "B1", q, 0, "relay_cpu")
    goal(g + 0 <= b + 0, sprintf("QoS %d CPU per message G <= B1's two brokers: %s vs %s s/100k", q, g, b))
  }
  worst50 = 0; worst99 = 0; worstmax = 0
  for (i = 1; i <= n; i++) if (row[i, "kind"] == "lat" && row[i, "label"] == "G") {
    q = row[i, "qos"]; r = row[i, "rate"]
    d = row[i, "p50"] - get("lat", "B0", q, r, "p50"); if (d > worst50) { worst50 = d; w50 = "QoS " q " @" r }
    d = row[i, "p99"] - get("lat", "B0", q, r, "p99"); if (d > worst99) { worst99 = d; w99 = "QoS " q " @" r }
    if (row[i, "max"] + 0 > worstmax) { worstmax = row[i, "max"]; wmax = "QoS " q " @" r }
  }
  goal(worst50 <= 100, sprintf("added p50 <= 100 µs: worst %d µs (%s)", worst50, w50))
  floor_line(w50, "p50")
  goal(worst99 <= 1000, sprintf("added p99 <= 1 ms: worst %d µs (%s)", worst99, w99))
  floor_line(w99, "p99")
  goal(worstmax <= 30000, sprintf("nothing over 30 ms at <= 10k msg/s: worst max %d µs (%s)", worstmax, wmax))
  worst = 0
  for (i = 1; i <= n; i++) if (row[i, "kind"] == "rev" && row[i, "label"] == "G-run" && row[i, "p99"] + 0 > worst) worst = row[i, "p99"]
  goal(worst <= 2000, sprintf("RUN -> local publish p99 <= 2 ms: worst %d µs", worst))
  goal(last_ratio >= 0.9, sprintf("most topics keep >= 90%% of fewest-topic throughput: %.2f", last_ratio))
  goal(last_ready <= 0.5, sprintf("subscribing the most topics <= 0.5 s (spawn -> all forwarding): %s s", last_ready))
  goal(idle <= 8 * 1024, sprintf("RSS idle <= 8 MiB: %s MiB", mib(idle)))
  goal(last_rss - base_rss <= 4 * 1024, sprintf("RSS at most topics <= +4 MiB over fewest: +%s MiB", mib(last_rss - base_rss)))
  goal(wire != "" && wire <= 35, sprintf("<= 35 B per forwarded 4-byte sample: %s", wire))
}
