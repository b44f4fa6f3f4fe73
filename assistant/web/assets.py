"""Static parts of the page: CSS and the small scripts the page runs."""

# after a reply, show its start (the header and the best card), not its last card
SCROLL_TO_REPLY = """() => { setTimeout(() => {
  const replies = document.querySelectorAll('#chat .reply');
  if (replies.length) replies[replies.length - 1].scrollIntoView({block: 'start', behavior: 'smooth'});
}, 60); }"""
# One delegated listener for the buttons inside result cards (installed at page load).
# Gradio's chat sanitizer strips on* and data-* attributes, so each button carries its
# payload in its (escaped) value attribute: the formatted citation, or the passage id.
CARD_ACTIONS_JS = """() => {
  if (window.__assistantCards) return;
  window.__assistantCards = true;
  const copyText = async (text) => {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) {}
    // plain-http pages on another host have no navigator.clipboard: the old way
    const ta = document.createElement('textarea');
    ta.value = text; ta.setAttribute('readonly', ''); ta.style.position = 'fixed'; ta.style.opacity = '0';
    document.body.appendChild(ta); ta.select();
    let ok = false; try { ok = document.execCommand('copy'); } catch (e) {}
    ta.remove(); return ok;
  };
  document.addEventListener('click', async (event) => {
    const button = event.target.closest && event.target.closest('button.copy-cite, button.sim-hit, button.cite');
    if (!button) return;
    event.preventDefault(); event.stopPropagation();
    if (button.classList.contains('cite')) {
      // [n] in the answer: the n-th card of the same reply
      const reply = button.closest('.reply');
      const card = reply && reply.querySelectorAll('.card')[parseInt(button.value, 10) - 1];
      if (card) {
        card.scrollIntoView({block: 'center', behavior: 'smooth'});
        card.classList.add('cited');
        setTimeout(() => card.classList.remove('cited'), 2000);
      }
    } else if (button.classList.contains('copy-cite')) {
      const ok = await copyText(button.value);
      button.textContent = ok ? '✓ 已复制' : '复制失败，请手动选择文字';
      setTimeout(() => { button.textContent = '复制引用'; }, 1600);
    } else {
      window.__assistantPick = button.value;
      const trigger = document.querySelector('#similar-trigger');
      if (trigger) trigger.click();
    }
  }, true);
}"""
# the hidden trigger's event reads the passage id the card button left behind
PICK_JS = "(pid, ...rest) => [window.__assistantPick || pid, ...rest]"
# 删除 asks first; a cancelled dialog reaches the handler as confirmed=False
CONFIRM_REMOVE_JS = """(names, confirmed, ...rest) => [names,
  !!(names && names.length && window.confirm('确定从语料中删除以下文件并更新索引？\\n' + names.join('\\n'))), ...rest]"""
CSS = """
.card{border:1px solid #d9dde3;border-radius:8px;padding:10px 12px;margin:8px 0;background:#fff}
.card-head{display:flex;gap:8px;align-items:baseline;font-size:13px;color:#555;flex-wrap:wrap}
.card-rank{font-weight:bold;color:#1f4e9c}
.card-meta{color:#888}
.card-score{margin-left:auto;color:#777;font-variant-numeric:tabular-nums}
.card-text{margin:6px 0;line-height:1.7;font-size:15px;color:#222}
.card-text mark,.ctx mark{background:#ffe58a;padding:0 1px;border-radius:2px}
.citation{font-size:13px;color:#1f4e9c}
.card-section{color:#777}
.card-actions{display:flex;gap:8px;flex-wrap:wrap;margin-top:6px}
.card-actions button{font-size:12px;padding:2px 10px;border:1px solid #c9d3e6;border-radius:12px;
  background:#f5f8fe;color:#1f4e9c;cursor:pointer;line-height:1.6;font-weight:normal}
.card-actions button:hover{background:#e6eefc}
.card summary{font-size:13px;color:#1f4e9c;cursor:pointer;margin-top:4px}
.dups ul{margin:4px 0 4px 18px;font-size:13px;color:#555}
.ctx{border-left:3px solid #c9d3e6;padding-left:8px;margin-top:6px}
.ctx-p{margin:4px 0;color:#555;line-height:1.6}
.ctx-hit{color:#111;background:#f3f7ff;border-left:3px solid #1f4e9c;padding-left:6px}
.ctx-h{font-weight:bold;color:#333;margin-top:6px}
.ctx-note{font-size:12px;color:#888}
.result-head{font-size:14px;color:#333;margin-bottom:4px}
.rewrite{font-size:13px;color:#8a5a00}
.pending{color:#777;font-size:14px}
.notice{border:1px solid #e0c36c;background:#fffbea;border-radius:8px;padding:10px 12px}
.error{border:1px solid #e08a8a;background:#fff2f2;border-radius:8px;padding:10px 12px}
.ok{border:1px solid #8ac79a;background:#f1fbf3;border-radius:8px;padding:10px 12px}
.ok ul,.error ul,.notice ul{margin:4px 0 0 18px}
.group-head{font-weight:bold;margin-top:14px;color:#333}
.answer{border:1px solid #c9d3e6;border-left:4px solid #1f4e9c;border-radius:8px;padding:10px 12px;margin:8px 0;background:#f7f9fe}
.answer-head{font-size:13px;color:#1f4e9c;font-weight:bold;margin-bottom:4px}
.answer-text{line-height:1.8;font-size:15px;color:#222}
.answer.drafting .answer-text{color:#555}
.answer-note{font-size:13px;color:#8a5a00;margin-top:6px}
button.cite{border:none;background:none;color:#1f4e9c;cursor:pointer;padding:0 1px;font-size:13px;vertical-align:super}
button.cite:hover{text-decoration:underline}
.flagged{background:#fff1e6;border-bottom:1px dashed #d46b08}
.flag-why{font-size:12px;color:#d46b08}
.card.cited{box-shadow:0 0 0 3px #ffd666}
"""
