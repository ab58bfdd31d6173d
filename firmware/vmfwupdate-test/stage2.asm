; Stage 2 of the igvm-mgr vmfwupdate test firmware: the image the guest hands over.
; It is assembled as the TOP of a 64 KiB platform ROM (the part holding the reset vector);
; stage 1 zero-fills the rest when it builds the full image in RAM. Stage 2 checks that the
; 1 MiB pattern stage 1 left at 1 MiB is unchanged, prints the opaque blob found in RAM where
; the mailbox's opaque_addr/opaque_size point, then the copy the manager hands over as a
; read-only fw-cfg file, and powers off.
bits 16
%include "definitions.inc"
%define FWCFG_BUFFER 0x4000
org 0x10000 - STAGE2_LENGTH

stage2_start:
    enter_real_mode_environment
    call enter_unreal
    mov si, marker
    call print_cs

    mov si, pattern_damaged
    mov edi, PATTERN_ADDR
.pattern:
    mov eax, edi
    xor eax, PATTERN_XOR
    cmp [es:edi], eax
    jne .pattern_done
    add edi, 4
    cmp edi, PATTERN_ADDR + PATTERN_SIZE
    jb .pattern
    mov si, pattern_intact
.pattern_done:
    call print_cs

    call mailbox_address
    jc .from_fwcfg
    mov esi, [es:edi + MB_OPAQUE_ADDR]
    mov ecx, [es:edi + MB_OPAQUE_SIZE]
    cmp ecx, 0x800
    ja .from_fwcfg
    push esi
    mov si, opaque_ram_label
    call print_cs
    pop esi
    jecxz .ram_done
.print_ram:
    mov al, [esi]
    call putc
    inc esi
    loop .print_ram
.ram_done:
    mov al, 10
    call putc

.from_fwcfg:
    mov si, opaque_name
    call fwcfg_find
    jc .no_opaque
    cmp ecx, 0x800              ; more than our buffer: print none of it
    ja .no_opaque
    push cx
    mov di, FWCFG_BUFFER
    call fwcfg_read
    pop cx
    mov si, opaque_label
    call print_cs
    mov si, FWCFG_BUFFER
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

marker:           db "igvm-mgr-test: stage2 running", 10, 0
pattern_intact:   db "igvm-mgr-test: stage2 found the 1 MiB pattern at 0x100000 unchanged", 10, 0
pattern_damaged:  db "igvm-mgr-test: stage2 found the 1 MiB pattern at 0x100000 DAMAGED", 10, 0
opaque_ram_label: db "igvm-mgr-test: opaque in RAM=", 0
opaque_name:      db "etc/vmfwupdate/opaque-blob", 0
opaque_label:     db "igvm-mgr-test: opaque=", 0
no_opaque:        db "igvm-mgr-test: no opaque", 10, 0

    times STAGE2_LENGTH - 16 - ($ - $$) db 0
reset_vector:                   ; CS:IP = F000:FFF0 at reset (linear 0xFFFFFFF0)
    jmp near stage2_start
    times STAGE2_LENGTH - ($ - $$) db 0
