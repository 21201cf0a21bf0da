-- busted output handler: one line per test, failure details, and a last line
-- "busted: S passed, F failed, P pending" that .ci/run adds up across runtimes.
return function(options)
  local busted = require "busted"
  local handler = require("busted.outputHandlers.base")()
  local runtime = jit and jit.version or _VERSION

  local function describe(element)
    return handler.getFullName(element)
  end

  handler.testEnd = function(element, _, status)
    local mark = ({ success = "ok  ", failure = "FAIL", error = "ERR ", pending = "skip" })[status] or status
    io.write(mark, " ", describe(element), "\n")
    io.flush()
    return nil, true
  end

  handler.suiteEnd = function()
    for _, list in ipairs({ handler.failures, handler.errors }) do
      for _, f in ipairs(list) do
        local where = f.element.trace and f.element.trace.short_src
          and (f.element.trace.short_src .. ":" .. f.element.trace.currentline) or "?"
        io.write("\n--- ", f.name or "?", " (", where, ")\n", tostring(f.message), "\n")
        if options.verbose and f.trace and f.trace.traceback then
          io.write(f.trace.traceback, "\n")
        end
      end
    end
    io.write(string.format("busted: %d passed, %d failed, %d pending (%s)\n", handler.successesCount,
      handler.failuresCount + handler.errorsCount, handler.pendingsCount, runtime))
    io.flush()
    return nil, true
  end

  busted.subscribe({ "test", "end" }, handler.testEnd, { predicate = handler.cancelOnPending })
  busted.subscribe({ "suite", "end" }, handler.suiteEnd)
  return handler
end
