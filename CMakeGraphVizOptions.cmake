# cmake --graphviz (scripts/layers-graph, docs/layers.png): the layers and the programs, not the
# tests; the libraries from Debian are kept, to show which layer alone links each.
set(GRAPHVIZ_GRAPH_NAME "tlslogd layers")
set(GRAPHVIZ_IGNORE_TARGETS "^test_.*" "^fuzz_.*" "cmocka" "Threads::Threads" "^m$")
set(GRAPHVIZ_GENERATE_PER_TARGET FALSE)
set(GRAPHVIZ_GENERATE_DEPENDERS FALSE)
