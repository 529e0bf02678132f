-- Soft hyphens in the words of the HTML book's tables (Norwegian books only).
--
-- A table cell may not break a word in the middle (#27: K1.3 printed «hovedverneomb» / «ud»): the browser
-- breaks a word only where it may (a space, a hyphen, a soft hyphen), and the HTML book's browsers do not
-- all hyphenate Norwegian (headless Chromium does not hyphenate at all). This filter puts a soft hyphen
-- (U+00AD) between the syllables of every word of 8 letters or more in a table (headers and cells), by the
-- Norwegian rule of thumb: one consonant between two vowels goes with the next syllable («ho-ved»), of two
-- or more the last goes with the next («ver-ne», «om-bud», «tets-kor»), «sj», «kj», «gj», «tj», «hj», «hv»,
-- «skj» and a consonant before «r» or «l» stay together («rek-sjon», «Re-pro-du-sert», «kon-troll»); no part shorter than three letters. A zero-width space after «/»
-- and «_» between letters (package names, «bransjerettet/generelt») lets such a word break there too.
-- The browser then breaks a long word only at a syllable, with a hyphen, and a table's narrowest width is
-- its longest syllable, not its longest word: tables fit the column without overflow-wrap:anywhere.
-- Only the HTML (the PDF's typst hyphenates Norwegian itself); the CSV and the notebooks keep the words.

local MIN_WORD = 8
local EDGE = 3
local SHY = "\u{00AD}"
local ZWSP = "\u{200B}"
local vowels = {}
for _, v in ipairs({ "a", "e", "i", "o", "u", "y", "æ", "ø", "å", "é", "è", "ê", "ü", "ö", "ä",
  "A", "E", "I", "O", "U", "Y", "Æ", "Ø", "Å", "É", "Ü", "Ö", "Ä" }) do
  vowels[v] = true
end
local extra_letters = {}
for _, v in ipairs({ "æ", "ø", "å", "é", "è", "ê", "ü", "ö", "ä", "Æ", "Ø", "Å", "É", "Ü", "Ö", "Ä" }) do
  extra_letters[v] = true
end
local together = { sj = 2, kj = 2, gj = 2, tj = 2, hj = 2, hv = 2, dj = 2, -- one sound
  pr = 2, br = 2, tr = 2, dr = 2, kr = 2, gr = 2, fr = 2, pl = 2, bl = 2, kl = 2, gl = 2, fl = 2 } -- an onset

local function is_letter(c)
  return c:match("^%a$") ~= nil or extra_letters[c] == true
end

local function chars(s)
  local out = {}
  for _, code in utf8.codes(s) do
    out[#out + 1] = utf8.char(code)
  end
  return out
end

-- break positions (before index i) of a word given as a list of characters
local function syllable_breaks(w)
  local n, breaks, i = #w, {}, 1
  while i <= n and not vowels[w[i]] do i = i + 1 end
  while i <= n do
    local j = i
    while j <= n and vowels[w[j]] do j = j + 1 end -- w[i..j-1]: vowels
    local k = j
    while k <= n and not vowels[w[k]] do k = k + 1 end -- w[j..k-1]: consonants
    if k > n then break end -- no vowel after the cluster: the word's end
    local len = k - j
    if len >= 1 then
      local unit = 1
      local tail2 = (w[k - 2] or ""):lower() .. (w[k - 1] or ""):lower()
      local tail3 = (w[k - 3] or ""):lower() .. tail2
      if len >= 3 and tail3 == "skj" then
        unit = 3
      elseif len >= 2 and together[tail2] and not (len >= 3 and w[k - 3] == w[k - 2]) then
        unit = 2 -- but «opp-læ-ring»: a double consonant stays before the break
      end
      if unit > len then unit = len end
      local at = k - unit
      if at - 1 >= EDGE and n - at + 1 >= EDGE then breaks[#breaks + 1] = at end
    end
    i = k
  end
  return breaks
end

local function hyphenate_word(w)
  if #w < MIN_WORD then return table.concat(w) end
  local at = {}
  for _, b in ipairs(syllable_breaks(w)) do at[b] = true end
  local out = {}
  for idx, c in ipairs(w) do
    if at[idx] then out[#out + 1] = SHY end
    out[#out + 1] = c
  end
  return table.concat(out)
end

-- the text of a Str with its long words hyphenated (exported for tests/test_table_hyphens.py)
function hyphenate_text(s)
  local cs, out, run = chars(s), {}, {}
  local function flush()
    if #run > 0 then out[#out + 1] = hyphenate_word(run); run = {} end
  end
  for idx, c in ipairs(cs) do
    if is_letter(c) then
      run[#run + 1] = c
    else
      flush()
      out[#out + 1] = c
      if (c == "/" or c == "_") and idx > 1 and idx < #cs and is_letter(cs[idx - 1]) and is_letter(cs[idx + 1]) then
        out[#out + 1] = ZWSP
      end
    end
  end
  flush()
  return table.concat(out)
end

local function norwegian(meta)
  local lang = meta.lang and pandoc.utils.stringify(meta.lang) or ""
  return lang == "" or lang:match("^nb") or lang:match("^nn") or lang:match("^no")
end

function Pandoc(doc)
  if not (FORMAT:match("html") and norwegian(doc.meta)) then return nil end
  return doc:walk({
    Table = function(t)
      return t:walk({ Str = function(s) return pandoc.Str(hyphenate_text(s.text)) end })
    end,
  })
end
