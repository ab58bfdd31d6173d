; Stage 2 of the igvm-mgr vmfwupdate test firmware: the image the guest hands over.
; It is assembled as the TOP of a 64 KiB platform ROM (the part holding the reset vector);
; stage 1 zero-fills the rest when it builds the full image in RAM. Stage 2 prints its marker
; and the opaque blob the manager handed over as a read-only fw-cfg file, then powers off.
bits 16
%include "definitions.inc"
%define STAGE2_LENGTH 0x400
org 0x10000 - STAGE2_LENGTH

stage2_start:
    enter_real_mode_environment
    mov si, marker
    call print_cs
    mov si, opaque_name
    call fwcfg_find
    jc .no_opaque
    cmp ecx, 0x800              ; more than our buffer: print none of it
    ja .no_opaque
    push cx
    mov di, 0x8000
    call fwcfg_read
    pop cx
    mov si, opaque_label
    call print_cs
    mov si, 0x8000
.print_opaque:
    mov al, [si]
    call putc
    inc si
    loop .print_opaque
    mov al, 10
    call putc
    jmp poweroff
.no_opaque:
    mov si, no_opaque
    call print_cs
    jmp poweroff

%include "routines.inc"

marker:       db "igvm-mgr-test: stage2 running", 10, 0
opaque_name:  db "opt/org.igvm-mgr/vmfwupdate/opaque", 0
opaque_label: db "igvm-mgr-test: opaque=", 0
no_opaque:    db "igvm-mgr-test: no opaque", 10, 0

    times STAGE2_LENGTH - 16 - ($ - $$) db 0
reset_vector:                   ; CS:IP = F000:FFF0 at reset (linear 0xFFFFFFF0)
    jmp near stage2_start
    times STAGE2_LENGTH - ($ - $$) db 0
