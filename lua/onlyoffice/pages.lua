-- s:pages(path [, query [, options]]): walks a paged listing item by item.
local args = require "onlyoffice.args"
local json = require "onlyoffice.json"

local M = {}

local PAGE_SIZE = 100 -- DocSpace's largest page
local OPTIONS = { count = "number" }

-- The entries of one listing page: DocSpace/Workspace folder content (folders,
-- then files), or a plain array (people, rooms, ...).
local function page_items(data)
  if type(data) ~= "table" then
    return nil
  end
  if data.files or data.folders then
    local items = {}
    for _, list in ipairs({ data.folders or {}, data.files or {} }) do
      for _, item in ipairs(list) do
        items[#items + 1] = item
      end
    end
    return items
  end
  return data
end

-- What identifies an item, to notice a server that ignores startIndex.
local function identity(item)
  if type(item) == "table" and item.id ~= nil then
    return tostring(item.id)
  elseif type(item) == "table" then
    return json.encode(item)
  end
  return tostring(item)
end

--- for item, index in s:pages(path [, query [, options]]) do ... end
--- Raises the failure message if a page cannot be fetched.
local function pages(s, path, query, opts)
  args.target(path, query, 2)
  opts = args.call_options(opts, OPTIONS, 2)
  local q = {}
  for k, v in pairs(query or {}) do
    q[k] = v
  end
  local count = opts.count or tonumber(q.count) or PAGE_SIZE
  if not (count >= 1 and count <= 1000000 and count == math.floor(count)) then
    error("count must be a whole number from 1 to 1000000", 2)
  end
  q.count = count
  local start = tonumber(q.startIndex) or 0
  local page, pos, index, finished, first = {}, 0, 0, false, nil
  return function()
    while pos >= #page do
      if finished then
        return nil
      end
      q.startIndex = start
      local data, info = s:get(path, q)
      if data == nil then
        error(info, 2)
      end
      page, pos = page_items(data), 0
      if not page then
        error("not a listing: " .. path, 2)
      end
      local id = identity(page[1])
      if index > 0 and id ~= nil and id == first then
        return nil -- the same page again: the server ignores startIndex
      end
      first = id
      local total = type(data) == "table" and tonumber(data.total) or tonumber(info.total)
      start = tonumber(info.nextIndex) or (start + #page)
      finished = #page == 0 or (total ~= nil and start >= total) or (total == nil and #page < count)
    end
    pos, index = pos + 1, index + 1
    return page[pos], index
  end
end

function M.install(methods)
  methods.pages = pages
end

return M
