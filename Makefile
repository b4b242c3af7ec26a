# The two commands a new user runs: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
POETRY := $(PYTHON) -m poetry
STAMP := .venv/.installed

.PHONY: run test install lint schema-check clean-data check-main-deps

run: $(STAMP)  ## Serve Mímir on http://127.0.0.1:38000 (embedded PostgreSQL unless DATABASE_URL is set)
	$(POETRY) run mimir serve

test: $(STAMP)  ## Run the whole test suite against a real PostgreSQL
	$(POETRY) run pytest

install: $(STAMP)

$(STAMP): pyproject.toml poetry.lock graphiql/package-lock.json tests/mcp_inspector/package-lock.json
	@$(POETRY) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet 'poetry>=2.1,<3'
	$(POETRY) install --no-interaction --sync
	@# GraphiQL's browser files, served at /graphql-assets so /graphql works offline; the MCP
	@# Inspector, a third-party MCP client the tests drive (tests/mcp_inspector).
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix graphiql --no-audit --no-fund --loglevel=error; \
		npm install --prefix tests/mcp_inspector --no-save --no-audit --no-fund --loglevel=error; \
	else \
		echo "npm not found: GraphiQL at /graphql will load its files from unpkg.com;" \
			"the MCP Inspector test will be skipped"; \
	fi
	@touch $(STAMP)

check-main-deps:  ## The image's dependencies alone: import every module, boot `mimir serve`
	PYTHON=$(PYTHON) bash scripts/check_main_deps.sh

lint: $(STAMP)
	$(POETRY) run ruff check src tests migrations
