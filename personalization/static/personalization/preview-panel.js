/*
 * Tailor's "Preview as" control in Wagtail's preview panel (any page type or snippet with a preview).
 *
 * The editor picks a visitor (a new one, a segment, or a recent real visitor), a device (or lets the
 * preview size decide) and some context; the choice travels as tailor_* parameters in the URL of the
 * preview iframe (the panel's render URL, set just before each load), which personalization.serving.preview
 * reads. Built with DOM calls and textContent only: segment names and visitor labels are never parsed as HTML.
 */
(() => {
  const script = document.currentScript;
  const optionsUrl = script && script.dataset.tailorPreviewOptions;
  const PANEL = '[data-controller~="w-preview"]';

  const el = (tag, attrs = {}, children = []) => {
    const node = document.createElement(tag);
    Object.entries(attrs).forEach(([name, value]) => node.setAttribute(name, value));
    children.forEach((child) => node.append(child));
    return node;
  };
  const option = (value, text) => {
    const node = el('option', { value });
    node.textContent = text;
    return node;
  };
  const labelled = (text, control) => {
    const label = el('label', { class: 'tailor-preview-as__field' });
    const span = el('span');
    span.textContent = text;
    label.append(span, control);
    return label;
  };

  const controls = new WeakMap(); // panel element -> its form

  function choiceParams(panel) {
    const form = controls.get(panel);
    const params = {};
    if (form) {
      const as = form.elements.tailor_as.value;
      if (as.startsWith('segment:')) params.tailor_segment = as.slice(8);
      if (as.startsWith('visitor:')) params.tailor_visitor = as.slice(8);
      ['tailor_device', 'tailor_utm_source', 'tailor_country', 'tailor_hour', 'tailor_logged_in'].forEach(
        (name) => {
          const value = form.elements[name].value.trim();
          if (value) params[name] = value;
        },
      );
    }
    if (!params.tailor_device) {
      // Wagtail's size buttons change the iframe's width only: the device follows the size unless chosen.
      const size = panel.querySelector('input[name="preview-size"]:checked');
      if (size && size.dataset.deviceWidth) params.tailor_width = size.dataset.deviceWidth;
    }
    return params;
  }

  function renderUrlSet(panel) {
    const base = panel.getAttribute('data-w-preview-url-value');
    if (!base) return;
    const url = new URL(base, window.location.href);
    Object.entries(choiceParams(panel)).forEach(([name, value]) => url.searchParams.set(name, value));
    panel.setAttribute('data-w-preview-render-url-value', url.pathname + url.search);
  }

  const queued = new WeakSet(); // panels with a reload waiting for the one under way

  function reload(panel) {
    renderUrlSet(panel);
    const app = window.wagtail && window.wagtail.app;
    const controller = app && app.getControllerForElementAndIdentifier(panel, 'w-preview');
    // Before its first load the panel has nothing to reload: that load reads the URL set above.
    if (!controller || !controller.ready) return;
    if (controller.reloadPromise) {
      // The first iframe to finish loading replaces all the others: a second reload started now could lose to
      // the older one. Wait for it, then load once more with whatever is chosen by then.
      if (!queued.has(panel)) {
        queued.add(panel);
        controller.reloadPromise.then(() => {
          queued.delete(panel);
          reload(panel);
        });
      }
      return;
    }
    controller.reloadIframe();
  }

  function build(panel, options) {
    const as = el('select', { name: 'tailor_as' }, [option('', 'A new visitor')]);
    if (options.segments.length) {
      const group = el('optgroup', { label: 'Segments' });
      options.segments.forEach((s) => group.append(option(`segment:${s.key}`, s.name)));
      as.append(group);
    }
    if (options.visitors.length) {
      const group = el('optgroup', { label: 'Recent visitors' });
      options.visitors.forEach((v) => group.append(option(`visitor:${v.id}`, v.label)));
      as.append(group);
    }
    const device = el('select', { name: 'tailor_device' }, [option('', 'As the preview size')]);
    options.devices.forEach((d) => device.append(option(d, d.charAt(0).toUpperCase() + d.slice(1))));
    const hour = el('select', { name: 'tailor_hour' }, [option('', 'Now')]);
    for (let h = 0; h < 24; h += 1) hour.append(option(String(h), `${String(h).padStart(2, '0')}:00`));
    const loggedIn = el('select', { name: 'tailor_logged_in' }, [
      option('', 'As is'),
      option('1', 'Yes'),
      option('0', 'No'),
    ]);
    const more = el('details', { class: 'tailor-preview-as__more' });
    const summary = el('summary');
    summary.textContent = 'Context: UTM source, country, hour, signed in';
    more.append(
      summary,
      labelled('UTM source', el('input', { name: 'tailor_utm_source', type: 'text', maxlength: '200', size: '10' })),
      labelled('Country', el('input', { name: 'tailor_country', type: 'text', maxlength: '2', size: '3', placeholder: 'GB' })),
      labelled('Hour', hour),
      labelled('Signed in', loggedIn),
    );
    const form = el('form', { class: 'tailor-preview-as', 'data-tailor-preview-as': '', 'aria-label': 'Preview as' }, [
      labelled('Preview as', as),
      labelled('Device', device),
      more,
    ]);
    form.addEventListener('submit', (event) => event.preventDefault());
    form.addEventListener('change', () => reload(panel));
    controls.set(panel, form);
    const sizes = panel.querySelector('.w-preview__sizes');
    if (sizes) sizes.insertAdjacentElement('afterend', form);
    else panel.prepend(form);
    panel.addEventListener('change', (event) => {
      if (event.target.name === 'preview-size') reload(panel);
    });
    renderUrlSet(panel);
  }

  // Before every load of the iframe (Wagtail's own refreshes included): the URL carries the current choice.
  document.addEventListener('w-preview:load', (event) => {
    if (event.target.matches && event.target.matches(PANEL)) renderUrlSet(event.target);
  });

  function start() {
    const panels = document.querySelectorAll(PANEL);
    if (!panels.length || !optionsUrl) return;
    const style = el('style');
    style.textContent = `
      .tailor-preview-as { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; padding: .5rem 1rem;
        font-size: .875rem; border-bottom: 1px solid var(--w-color-border-furniture, #e6e6e6); }
      .tailor-preview-as__field { display: flex; flex-direction: column; gap: .15rem; font-weight: 600; }
      .tailor-preview-as__field select, .tailor-preview-as__field input { font-weight: 400; max-width: 16rem;
        padding: .2rem .4rem; }
      .tailor-preview-as__more { flex-basis: 100%; }
      .tailor-preview-as__more[open] { display: flex; flex-wrap: wrap; gap: .5rem 1rem; }
      .tailor-preview-as__more summary { cursor: pointer; flex-basis: 100%; display: list-item;
        list-style: disclosure-closed inside; }
      .tailor-preview-as__more[open] summary { list-style-type: disclosure-open; }`;
    document.head.append(style);
    fetch(optionsUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((options) => panels.forEach((panel) => build(panel, options)))
      .catch(() => {
        // Without the options the panel still previews, with the device following the size.
        panels.forEach((panel) => build(panel, { segments: [], visitors: [], devices: ['desktop', 'mobile', 'tablet'] }));
      });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
