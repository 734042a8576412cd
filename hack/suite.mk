# Suite entry points (included from the Makefile).
.PHONY: test selftest e2e bench report report-demo catalogue matrix upgrade-gate
test:                       ## the README's test command: self-tests, then the behaviour suites on a fresh kind cluster
	hack/test.sh
selftest:                   ## self-tests of the machinery (tests/), integration ones included
	hack/selftest.sh
e2e:                        ## the main job: behaviour suites on a fresh kind cluster, then the HTML report
	hack/e2e.sh
bench:                      ## the benchmark: the main job with -n 1 and -n 2, figures in reports/bench-n*.json
	WORKERS=1 hack/e2e.sh; cp reports/bench.json reports/bench-n1.json
	WORKERS=2 hack/e2e.sh; cp reports/bench.json reports/bench-n2.json
upgrade-gate:               ## FROM=v1.36.3 TO=v1.37.2: the suite, an in-place upgrade of that cluster, the suite again, compared
	FROM="$(FROM)" TO="$(TO)" hack/upgrade-gate.sh
matrix:                     ## the main job per version (VERSIONS="v1.34.4 v1.35.4"), then reports/matrix.md
	VERSIONS="$(VERSIONS)" hack/matrix.sh
report:                     ## render reports/allure-results into reports/allure-report
	hack/render-report.sh
report-demo:                ## no cluster: a synthetic run of each result kind, twice, rendered; screenshots in reports/report-demo/
	hack/report-demo.sh
catalogue:                  ## the suite as a specification: reports/catalogue.md (behaviours by area and claim)
	.venv/bin/pytest suites --collect-only -q --catalogue reports/catalogue.md
