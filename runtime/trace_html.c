/* The self-contained HTML report of a trace: the data as one JSON block
 * and a script (no network access) that draws the timeline with the
 * critical path highlighted, the memory plot, a sortable per-task table and
 * the run's configuration. When it has drawn, <body> gets
 * data-rendered="<rows>"; script errors go to data-errors (the test reads
 * both from headless Chromium). */
#include "runtime/trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TASKS 200000 /* rows kept in the report (the slowest first beyond it) */

static const char *const page_head[] = {
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>weft report</title>\n<style>\n",
    "body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}\n",
    "h1{font-size:20px}h2{font-size:16px;margin-top:24px}\n",
    "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}\n",
    "th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}\n",
    "tr.crit td{background:#fff1f0}.failed{color:#b00}.note{color:#666}\n",
    "#timeline,#memory{border:1px solid #ccc;overflow-x:auto}svg text{font:11px sans-serif}\n",
    ".tablewrap{max-height:600px;overflow:auto}\n",
    "</style></head>\n<body>\n<h1 id=\"title\">weft report</h1>\n<div id=\"overview\"></div>\n",
    "<h2>Timeline</h2><p class=\"note\">One row per worker, process slot and CUDA stream; tasks on the ",
    "critical path are outlined in red. Hover a task for its details.</p><div id=\"timeline\"></div>\n",
    "<h2>Memory</h2><div id=\"memory\"></div>\n",
    "<h2>Tasks</h2><p class=\"note\" id=\"tasknote\">Click a column to sort.</p>",
    "<div class=\"tablewrap\"><table id=\"tasks\"><thead></thead><tbody></tbody></table></div>\n",
    "<h2>Summary</h2><p class=\"note\">As weft run --summary prints it: the slowest tasks, the critical path, ",
    "the workers, user regions by name, the bottlenecks.</p><pre id=\"summary\"></pre>\n",
    "<h2>Configuration</h2><table id=\"config\"><tbody></tbody></table>\n",
    "<script type=\"application/json\" id=\"data\">",
    NULL};

static const char *const page_tail[] = {
    "</script>\n<script>\n",
    "(function(){\n",
    "var errs=[];window.onerror=function(m){errs.push(String(m));document.body.setAttribute('data-errors',errs.join(' | '));};\n",
    "var D=JSON.parse(document.getElementById('data').textContent);\n",
    "var SVG='http://www.w3.org/2000/svg';\n",
    "function el(t,a,p){var e=document.createElementNS(SVG,t);for(var k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}\n",
    "function fmt(us){if(us<1000)return us.toFixed(1)+' us';if(us<1e6)return (us/1e3).toFixed(2)+' ms';return (us/1e6).toFixed(3)+' s';}\n",
    "function params(n){if(!n)return '';try{var o=JSON.parse('{'+n+'}');return Object.keys(o).map(function(k){return k+'='+o[k];}).join(' ');}catch(e){return n;}}\n"
    "function txt(tag,s,cls){var e=document.createElement(tag);e.textContent=s;if(cls)e.className=cls;return e;}\n",
    "document.getElementById('title').textContent='weft report: '+D.title;\n",
    "var t0=D.span[0],t1=Math.max(D.span[1],t0+1),W=1100,L=130,RH=16;\n",
    "var st={};D.tasks.forEach(function(t){st[t[5]]=(st[t[5]]||0)+1;});\n",
    "var ov=document.getElementById('overview');\n",
    "ov.appendChild(txt('p','Traced '+fmt(t1-t0)+', '+D.ntasks+' task(s): '+Object.keys(st).map(function(k){return st[k]+' '+k;}).join(', ')+'.'));\n",
    "if(D.crit)ov.appendChild(txt('p','Critical path (run '+D.crit.run+'): '+D.crit.n+' task(s), '+fmt(D.crit.len)+' of '+fmt(D.crit.span)+' ('+(D.crit.span>0?(100*D.crit.len/D.crit.span).toFixed(1):'0')+'%).'));\n",
    "if(D.ntasks>D.tasks.length)ov.appendChild(txt('p','The report keeps the '+D.tasks.length+' longest tasks of '+D.ntasks+'.','note'));\n",
    "var x=function(t){return L+(t-t0)/(t1-t0)*(W-L-10);};\n",
    "var svg=el('svg',{width:W,height:D.lanes.length*RH+24},document.getElementById('timeline'));\n",
    "D.lanes.forEach(function(n,i){var tx=el('text',{x:4,y:i*RH+12},svg);tx.textContent=n;el('line',{x1:L,x2:W,y1:i*RH+RH,y2:i*RH+RH,stroke:'#eee'},svg);});\n",
    "var ax=el('text',{x:L,y:D.lanes.length*RH+18},svg);ax.textContent='0';var ax2=el('text',{x:W-70,y:D.lanes.length*RH+18},svg);ax2.textContent=fmt(t1-t0);\n",
    "var col={done:'#4a90d9',failed:'#d9534f',cancelled:'#aaa','not run':'#ccc'};\n",
    "var drawn=0;D.tasks.forEach(function(t){if(drawn>=20000)return;drawn++;var w=Math.max(1,x(t[3])-x(t[2]));\n",
    " var r=el('rect',{x:x(t[2]),y:t[1]*RH+2,width:w,height:RH-4,fill:col[t[5]]||'#888',stroke:t[6]?'#e00':'none','stroke-width':t[6]?2:0},svg);\n",
    " el('title',{},r).textContent=t[0]+'\\n'+fmt(t[3]-t[2])+' ('+t[5]+')'+(t[6]?'\\ncritical path':'')+(t[9]?'\\n'+params(t[9]):'');});\n",
    "var mem=D.mem,mdiv=document.getElementById('memory');\n",
    "if(!mem.length){mdiv.appendChild(txt('p','No memory samples (the pool was not used while tracing).','note'));}else{\n",
    " var mx=1;mem.forEach(function(p){if(p[1]>mx)mx=p[1];});var H=140;var ms=el('svg',{width:W,height:H+20},mdiv);\n",
    " var pts=[];var last=H;mem.forEach(function(p){var y=H-p[1]/mx*(H-10);pts.push(x(p[0])+','+last);pts.push(x(p[0])+','+y);last=y;});\n",
    " el('polyline',{points:pts.join(' '),fill:'none',stroke:'#2a7',\"stroke-width\":1.5},ms);\n",
    " var lb=el('text',{x:4,y:12},ms);lb.textContent='pool in use, peak '+(mx/1048576).toFixed(2)+' MiB';}\n",
    "var cols=[['task',0,0],['run',7,1],['lane',1,0],['ready',4,2],['start',2,2],['duration',-1,2],['delay',-2,2],['state',5,0],['attempts',8,1],['critical',6,0],['parameters',9,0]];\n",
    "function val(t,c){if(c[1]==-1)return t[3]-t[2];if(c[1]==-2)return Math.max(0,t[2]-t[4]);if(c[1]==1)return D.lanes[t[1]];return t[c[1]];}\n",
    "var rows=D.tasks.slice(),sortc=4,asc=true;\n",
    "var thead=document.querySelector('#tasks thead'),tbody=document.querySelector('#tasks tbody');\n",
    "var hr=document.createElement('tr');cols.forEach(function(c,i){var th=txt('th',c[0]);th.onclick=function(){if(sortc==i)asc=!asc;else{sortc=i;asc=true;}render();};hr.appendChild(th);});thead.appendChild(hr);\n",
    "function render(){var c=cols[sortc];rows.sort(function(a,b){var u=val(a,c),v=val(b,c);return (u<v?-1:u>v?1:0)*(asc?1:-1);});\n",
    " tbody.textContent='';var n=Math.min(rows.length,5000);for(var i=0;i<n;i++){var t=rows[i];var tr=document.createElement('tr');tr.className='task'+(t[6]?' crit':'');\n",
    "  tr.appendChild(txt('td',t[0],t[5]=='failed'?'failed':''));tr.appendChild(txt('td',t[7],'n'));tr.appendChild(txt('td',D.lanes[t[1]]));\n",
    "  tr.appendChild(txt('td',fmt(t[4]-t0),'n'));tr.appendChild(txt('td',fmt(t[2]-t0),'n'));tr.appendChild(txt('td',fmt(t[3]-t[2]),'n'));tr.appendChild(txt('td',fmt(Math.max(0,t[2]-t[4])),'n'));\n",
    "  tr.appendChild(txt('td',t[5],t[5]=='failed'?'failed':''));tr.appendChild(txt('td',t[8],'n'));tr.appendChild(txt('td',t[6]?'yes':''));tr.appendChild(txt('td',params(t[9]),'note'));tbody.appendChild(tr);}\n",
    " document.getElementById('tasknote').textContent='Click a column to sort. '+(rows.length>n?'Showing '+n+' of '+rows.length+' rows.':rows.length+' row(s).');\n",
    " document.body.setAttribute('data-rendered',String(n));}\n",
    "render();\n",
    "document.getElementById('summary').textContent=D.summary||'';\n",
    "var cb=document.querySelector('#config tbody');Object.keys(D.config).forEach(function(k){var tr=document.createElement('tr');tr.appendChild(txt('th',k));tr.appendChild(txt('td',String(D.config[k])));cb.appendChild(tr);});\n",
    "})();\n</script>\n</body></html>\n",
    NULL};

static int cmp_work(const void *a, const void *b, void *m)
{
    const wtm_task_t *t = ((const weft__tmodel_t *)m)->task;
    double x = wtm_work(&t[*(const int32_t *)a]), y = wtm_work(&t[*(const int32_t *)b]);
    return x > y ? -1 : x < y;
}

int weft__trace_write_html(const weft__tmodel_t *m, const weft__tconf_t *c, const char *path)
{
    weft__sbuf_t d = {0}, b = {0};
    char lb[24], name[160];
    /* the lanes used, in track order */
    int used[4][512];
    memset(used, 0xff, sizeof used);
    int nrow = 0;
    int32_t *order = weft__malloc((m->ntask ? m->ntask : 1) * sizeof *order);
    if (!order)
        return WEFT_ENOMEM;
    for (int k = 0; k < 4; k++)
        for (size_t l = 0; l < m->lanes[k] && l < 512; l++)
            if (k != TLANE_WORKER || (int)l < c->nworkers)
                used[k][l] = 1;
    for (size_t i = 0; i < m->ntask; i++) {
        const wtm_task_t *t = &m->task[i];
        if (t->lane_kind < 4 && t->lane < 512)
            used[t->lane_kind][t->lane] = 1;
        order[i] = (int32_t)i;
    }
    weft__sbuf_puts(&d, "{\"title\":");
    weft__sbuf_json(&d, c->title ? c->title : "weft");
    weft__sbuf_puts(&d, ",\"config\":{");
    weft__sbuf_puts(&d, c->config_json ? c->config_json : "");
    weft__sbuf_puts(&d, "},\"lanes\":[");
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 512; l++)
            if (used[k][l] == 1) {
                weft__tmodel_lane(m->rec, k, l, c->nworkers, name, sizeof name);
                if (nrow)
                    weft__sbuf_puts(&d, ",");
                weft__sbuf_json(&d, name);
                used[k][l] = 2 + nrow++;
            }
    weft__sbuf_puts(&d, "],\"span\":[");
    double first = m->ntask || m->nev ? m->t_first : 0;
    for (size_t i = 0; i < m->nrun; i++)
        if (m->run[i].submit < first)
            first = m->run[i].submit;
    weft__sbuf_us(&d, first);
    weft__sbuf_puts(&d, ",");
    weft__sbuf_us(&d, m->ntask || m->nev ? m->t_last : 0);
    weft__sbuf_printf(&d, "],\"ntasks\":%zu,\"tasks\":[", m->ntask);
    size_t keep = m->ntask;
    if (keep > MAX_TASKS) {
        qsort_r(order, m->ntask, sizeof *order, cmp_work, (void *)m);
        keep = MAX_TASKS;
    }
    for (size_t i = 0; i < keep; i++) {
        const wtm_task_t *t = &m->task[order[i]];
        int row = t->lane_kind < 4 && t->lane < 512 ? used[t->lane_kind][t->lane] - 2 : 0;
        weft__sbuf_puts(&d, i ? ",\n[" : "\n[");
        weft__sbuf_json(&d, weft__tmodel_name(m, t->run, t->index, lb, sizeof lb));
        weft__sbuf_printf(&d, ",%d,", row < 0 ? 0 : row);
        weft__sbuf_us(&d, t->start);
        weft__sbuf_puts(&d, ",");
        weft__sbuf_us(&d, t->end);
        weft__sbuf_puts(&d, ",");
        weft__sbuf_us(&d, t->ready);
        weft__sbuf_printf(&d, ",\"%s\",%d,%u,%d,", weft__tmodel_state(t->state), t->crit, t->run, t->attempts);
        const char *note = weft__tmodel_note(m, t->run, t->index);
        weft__sbuf_json(&d, note ? note : "");
        weft__sbuf_puts(&d, "]");
    }
    weft__sbuf_puts(&d, "],\"mem\":[");
    int nmem = 0;
    for (size_t i = 0; i < m->nev; i++) {
        const wtm_ev_t *x = &m->ev[i];
        if (x->e.kind != TEV_COUNTER || !x->e.name || strcmp(x->e.name, "memory in use (bytes)") != 0)
            continue;
        weft__sbuf_puts(&d, nmem++ ? ",[" : "[");
        weft__sbuf_us(&d, x->t0);
        weft__sbuf_printf(&d, ",%.0f]", x->e.value);
    }
    weft__sbuf_puts(&d, "]");
    if (m->longest >= 0) {
        const wtm_run_t *r = &m->run[m->longest];
        weft__sbuf_printf(&d, ",\"crit\":{\"run\":%d,\"n\":%zu,\"len\":", m->longest + 1, r->ncrit);
        weft__sbuf_us(&d, r->crit_len);
        weft__sbuf_puts(&d, ",\"span\":");
        weft__sbuf_us(&d, (r->done >= 0 ? r->done : m->t_last) - r->submit);
        weft__sbuf_puts(&d, "}");
    }
    /* the text summary (regions, bottlenecks, ...) as its own section */
    char *text = NULL;
    size_t tlen = 0;
    FILE *mf = open_memstream(&text, &tlen);
    if (mf) {
        int src = weft__trace_write_summary(m, c, mf);
        fclose(mf);
        if (src == 0 && text) {
            weft__sbuf_puts(&d, ",\"summary\":");
            weft__sbuf_json(&d, text);
        }
    }
    free(text); /* (open_memstream's buffer is libc's) */
    weft__sbuf_puts(&d, "}");
    weft__free(order);
    /* the page: "</" in the data would end the script element */
    for (int i = 0; page_head[i]; i++)
        weft__sbuf_puts(&b, page_head[i]);
    for (size_t i = 0; d.p && i < d.len;) {
        const char *lt = memchr(d.p + i, '<', d.len - i);
        size_t n = lt ? (size_t)(lt - (d.p + i)) : d.len - i;
        weft__sbuf_put(&b, d.p + i, n);
        i += n;
        if (lt) {
            weft__sbuf_puts(&b, "\\u003c");
            i++;
        }
    }
    for (int i = 0; page_tail[i]; i++)
        weft__sbuf_puts(&b, page_tail[i]);
    int rc = d.oom || b.oom ? WEFT_ENOMEM : weft__write_file_atomic(path, b.p, b.len);
    weft__free(d.p);
    weft__free(b.p);
    return rc;
}
