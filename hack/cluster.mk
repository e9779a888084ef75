# The local Kubernetes control plane (issue 3); included by the Makefile.
# Tools are built from Go modules into ~/.cache/runwright/tools (keyed by
# version, built only when missing) and linked into .cluster/bin.
.PHONY: tools cluster-up cluster-down cluster-status cluster-logs

HOST_PY ?= $(shell test -x $(PY) && echo $(PY) || echo $(PYTHON))

tools: ## build etcd, kube-*, kubectl, kwok and helm from Go modules (cached), link into .cluster/bin
	GOTOOLCHAIN=local $(HOST_PY) hack/tools.py build

cluster-up: tools ## start etcd, kube-apiserver, controller-manager, scheduler and kwok on 127.0.0.1
	$(HOST_PY) hack/cluster.py up

cluster-down: ## stop every control-plane process by its pid
	$(HOST_PY) hack/cluster.py down

cluster-status: ## show the control plane's processes and readiness
	$(HOST_PY) hack/cluster.py status

cluster-logs: ## tail every component log under .cluster/
	$(HOST_PY) hack/cluster.py logs 40

test-integration: $(STAMP) ## integration tests against the local control plane (built and started as needed)
	@if command -v go >/dev/null || [ -n "$$RUNWRIGHT_TEST_KUBECONFIG" ]; then \
	  [ -n "$$RUNWRIGHT_TEST_KUBECONFIG" ] || $(MAKE) tools; \
	else echo "go not found: integration tests will skip (a failure under CI=true)"; fi
	$(BIN)/pytest -q tests/integration
