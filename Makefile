# AgentSessionManager — the two commands: `make demo` and `make test`.
SWIFT ?= swift
# Every target's imports must be declared dependencies (pure / edge / wiring stay apart).
CHECKS := --explicit-target-dependency-import-check error
# The C anchor the benchmark compares against (SQLite's own speed for the same log).
EVLOG_SRC ?= ../shared/bench/evlog.c
BENCH_DIR ?= /tmp/asm-bench

.PHONY: build test test-browser test-api-fuzz test-multihost pg-start pg-stop lint demo bench bench-quick soak clean

build:
	$(SWIFT) build $(CHECKS)

test:
	$(SWIFT) build --build-tests $(CHECKS)
	$(SWIFT) test --skip-build

# The web page in headless Chromium (chromium, chromium-driver, selenium): a run submitted,
# streamed, approved and costed, a reload mid-run; screenshots in .build/browser-screenshots/.
test-browser: build
	python3 Scripts/browser_test.py --asm .build/debug/asm

# The HTTP API fuzzed from its OpenAPI document (schemathesis): no 5xx, responses as
# documented, nothing appended by a refused request.
test-api-fuzz: build
	python3 Scripts/api_fuzz.py --asm .build/debug/asm

# Several machines on one PostgreSQL log (Scripts/multihost_test.py): hosts as network
# namespaces (Scripts/netns_hosts.sh, as root), two appending, one following, SIGKILLs
# mid-append, the recovery pass, the chain verified; on loopback where namespaces cannot be made.
test-multihost: build
	python3 Scripts/multihost_test.py .build/debug/asm

# A private PostgreSQL for the PostgreSQL tests in $(PG_DIR), unix socket only, port $PGPORT
# or 54329 (Scripts/pg_cluster.sh): `eval "$(make -s pg-start)"` sets ASM_TEST_POSTGRES for
# `make test`; `make pg-stop` stops it and removes $(PG_DIR).
PG_DIR ?= /tmp/asm-pg
pg-start:
	@Scripts/pg_cluster.sh start $(PG_DIR)

pg-stop:
	@Scripts/pg_cluster.sh stop $(PG_DIR)

# Style (.swift-format: 4 spaces, 120 columns, no force unwraps or force tries, sorted
# imports); `swift format format -i -r Sources Tests Package.swift` fixes most findings.
lint:
	$(SWIFT) format lint --strict -r Sources Tests Package.swift

demo: build
	$(SWIFT) run --skip-build asm demo $(if $(DB),--db $(DB),) $(if $(PROVIDER),--provider $(PROVIDER),)

.build/evlog: $(EVLOG_SRC)
	@mkdir -p .build
	gcc -O2 -Wall -o $@ $(EVLOG_SRC) -lsqlite3

bench:
	$(SWIFT) build -c release --product asm-bench
	@if [ -f "$(EVLOG_SRC)" ]; then $(MAKE) --no-print-directory .build/evlog; fi
	.build/release/asm-bench --dir $(BENCH_DIR) $(if $(wildcard $(EVLOG_SRC)),--anchor .build/evlog,)

bench-quick:
	$(SWIFT) build -c release --product asm-bench
	@if [ -f "$(EVLOG_SRC)" ]; then $(MAKE) --no-print-directory .build/evlog; fi
	.build/release/asm-bench --quick --dir $(BENCH_DIR) $(if $(wildcard $(EVLOG_SRC)),--anchor .build/evlog,)

# The PostgreSQL store against a plain insert loop of the same row shape on the same server, in
# the same run, with the SQLite store's rows beside it (`asm-bench postgres`). Starts a private
# cluster in $(PG_BENCH_DIR) on port $(PG_BENCH_PORT) and stops it afterwards, even on failure;
# `make bench-postgres PG_URL=postgresql://…` uses that server instead (schemas asmbench_*).
PG_BENCH_DIR ?= /tmp/asm-pg-bench
PG_BENCH_PORT ?= 54339
BENCH_SCRATCH ?= .build
.PHONY: bench-postgres
bench-postgres:
	$(SWIFT) build -c release --product asm-bench --scratch-path $(BENCH_SCRATCH)
	@if [ -f "$(EVLOG_SRC)" ]; then $(MAKE) --no-print-directory .build/evlog; fi
	@set -e; bench="$(BENCH_SCRATCH)/release/asm-bench --dir $(BENCH_DIR) \
		$(if $(wildcard $(EVLOG_SRC)),--anchor .build/evlog,) postgres"; \
	if [ -n "$(PG_URL)" ]; then \
		$$bench --url "$(PG_URL)"; \
	else \
		trap 'Scripts/pg_cluster.sh stop $(PG_BENCH_DIR)' EXIT; \
		cluster=$$(Scripts/pg_cluster.sh start --port $(PG_BENCH_PORT) $(PG_BENCH_DIR)); eval "$$cluster"; \
		$$bench --url "$$ASM_TEST_POSTGRES"; \
	fi

# Crash soak (not part of `make test`): SIGKILLs of `asm run` and `asm serve` mid-run on one
# file, one recovery pass, then the figures (open runs, agents, locks, chain, gaps, batches).
SOAK_KILLS ?= 1000
soak: build
	python3 Scripts/soak.py .build/debug/asm --kills $(SOAK_KILLS)

clean:
	rm -rf .build .asm
